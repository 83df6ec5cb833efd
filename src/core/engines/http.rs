//! A minimal HTTP/1.1 GET over a unix socket or TCP, for engine endpoints
//! the Docker client does not cover (podman's own API). One connection per
//! request, driven inside the request's own future: dropping that future
//! (a timeout) closes the connection, nothing is left running.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{HeaderMap, Request};
use hyper_util::rt::TokioIo;

use crate::core::engine::{with_causes, EngineError, ErrorKind};
use crate::core::options::Endpoint;

/// The status and body of `GET path` at `endpoint`. Errors name the path
/// and the cause; the caller names the engine and endpoint.
pub async fn get(endpoint: &Endpoint, path: &str) -> Result<(u16, Bytes), EngineError> {
    let reply = request(endpoint, path).await?;
    Ok((reply.status, reply.body))
}

/// A whole answer.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// `GET path` at `endpoint`, with the answer's headers.
pub async fn request(endpoint: &Endpoint, path: &str) -> Result<Reply, EngineError> {
    let fail = |what: &str, e: &dyn std::error::Error| {
        EngineError::new(ErrorKind::Unreachable, format!("GET {path}: {what}: {}", with_causes(e)))
    };
    let result = match endpoint {
        Endpoint::Unix(socket) => {
            let io = tokio::net::UnixStream::connect(socket).await.map_err(|e| fail("connect", &e))?;
            exchange(TokioIo::new(io), "d", path).await
        }
        Endpoint::Tcp(hostport) => {
            let io = tokio::net::TcpStream::connect(hostport.as_str()).await.map_err(|e| fail("connect", &e))?;
            exchange(TokioIo::new(io), hostport, path).await
        }
        Endpoint::Tls(_) => {
            return Err(EngineError::new(ErrorKind::Refused, format!("GET {path}: this client speaks no TLS")))
        }
    };
    result.map_err(|e| fail("request", &e))
}

async fn exchange<IO>(io: IO, host: &str, path: &str) -> Result<Reply, hyper::Error>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    let req = Request::get(path).header("Host", host).body(Empty::<Bytes>::new()).expect("a valid GET request");
    let work = async move {
        let resp = sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>(Reply { status, headers, body })
    };
    tokio::pin!(work, conn);
    tokio::select! {
        r = &mut work => r,
        c = &mut conn => {
            c?;
            // The connection ended cleanly: what it delivered is buffered.
            work.await
        }
    }
}
