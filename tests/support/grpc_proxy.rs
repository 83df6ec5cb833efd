//! A gRPC proxy (HTTP/2 over unix sockets) in front of a real engine: it
//! forwards every call unchanged, and can refuse chosen methods (as an
//! authorisation proxy that allows only reads does) or hold each call
//! back for a while (a slow engine).

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{combinators::BoxBody, BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

/// What the proxy does besides forwarding.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    /// Full method paths (`/containerd.services.events.v1.Events/Publish`)
    /// answered with `PERMISSION_DENIED` instead of being forwarded.
    pub refuse: Vec<String>,
    /// How long each call waits before it is forwarded.
    pub delay: Duration,
}

pub struct GrpcProxy {
    pub socket: PathBuf,
    rt: Option<tokio::runtime::Runtime>,
}

type Body = BoxBody<Bytes, hyper::Error>;

fn refusal(path: &str) -> Response<Body> {
    Response::builder()
        .header("content-type", "application/grpc")
        .header("grpc-status", "7")
        .header("grpc-message", format!("{path} is not allowed through this proxy"))
        .body(Empty::new().map_err(|never: Infallible| match never {}).boxed())
        .unwrap()
}

async fn serve(client: tokio::net::UnixStream, upstream: PathBuf, rules: Arc<Rules>) {
    let Ok(up) = tokio::net::UnixStream::connect(&upstream).await else { return };
    let Ok((sender, conn)) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(up)).await else {
        return;
    };
    tokio::spawn(conn);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (mut sender, rules) = (sender.clone(), Arc::clone(&rules));
        async move {
            let path = req.uri().path().to_string();
            if rules.refuse.contains(&path) {
                return Ok::<_, hyper::Error>(refusal(&path));
            }
            if !rules.delay.is_zero() {
                tokio::time::sleep(rules.delay).await;
            }
            let resp = sender.send_request(req).await?;
            Ok(resp.map(BodyExt::boxed))
        }
    });
    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(client), service)
        .await;
}

impl GrpcProxy {
    /// Listens at `socket` and forwards to `upstream` under `rules`.
    pub fn start(socket: &Path, upstream: &Path, rules: Rules) -> GrpcProxy {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let _ = std::fs::remove_file(socket);
        let listener = {
            let _guard = rt.enter();
            tokio::net::UnixListener::bind(socket).unwrap()
        };
        let (upstream, rules) = (upstream.to_path_buf(), Arc::new(rules));
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, upstream.clone(), Arc::clone(&rules)));
            }
        });
        GrpcProxy { socket: socket.to_path_buf(), rt: Some(rt) }
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for GrpcProxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}
