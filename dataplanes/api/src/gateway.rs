//! The client-facing HTTP/1.1 entry point, shared by every backend.
//!
//! Protocol (the same for every backend, so clients and the load generator never change):
//! - A route with an `http` pattern in the spec (`GET /product/{id}`) is selected by method and
//!   path; its one path parameter travels in the request state. Other routes are
//!   `POST /<route>` (or `GET`, for an empty body), where `<route>` is the route's name or its
//!   numeric id; anything after a further `/` is ignored. The request body is the payload.
//! - The client's identity is the `x-user` header or the `shop_session-id` cookie (at most 40
//!   visible ASCII characters); it travels in the request state.
//! - `200` with the reply ([`workloads::render_reply`]): a `digest=... visits=... route=...`
//!   line, then the final body; a handler that rejected the request sets a 4xx instead (same
//!   body format, the page says why).
//! - `400` a malformed identity or path parameter, `404` no route, `405` a method the path
//!   does not take, `413` body larger than the chain's `max_body_bytes`, `502` a function
//!   failed or is unreachable, `503` no capacity (pool exhausted), `504` no answer from the
//!   chain in time. These error bodies are one line of text.
//!
//! The whole body is read before dispatch (no single-`read()` shortcut), keep-alive is on.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::future::Future;
use std::sync::Arc;
use workloads::state::{set_padded, PARAM_BYTES, USER_BYTES};
use workloads::{Chain, Reply, Resolved, Route, State};

/// Why a dispatched request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GatewayError {
    #[error("function failed or unreachable: {0}")]
    Upstream(String),
    #[error("no capacity: {0}")]
    NoCapacity(String),
    #[error("no answer from the chain within {0} ms")]
    Timeout(u64),
    #[error("reply too large: {0}")]
    TooLarge(String),
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::Upstream(_) => StatusCode::BAD_GATEWAY,
            GatewayError::NoCapacity(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            GatewayError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

/// The transport behind the gateway: run one request through the chain, starting from `state`
/// (the route's [`State::new`] with the client's identity and path parameter), and return the
/// reply (rendered with [`workloads::render_reply`]).
pub trait Dispatch: Send + Sync + 'static {
    fn dispatch(
        &self,
        route: &Route,
        state: State,
        body: Bytes,
    ) -> impl Future<Output = Result<Reply, GatewayError>> + Send;
}

/// Serve HTTP/1.1 on `listener` until the process is killed.
pub async fn serve<D: Dispatch>(
    listener: std::net::TcpListener,
    chain: Arc<Chain>,
    dispatch: Arc<D>,
) -> std::io::Result<()> {
    accept_loop(listener, move |stream| {
        tokio::spawn(serve_connection(stream, chain.clone(), dispatch.clone()));
    })
    .await
}

/// Serve HTTP/1.1 on one accepted connection until the client closes it.
pub async fn serve_connection<D: Dispatch>(stream: tokio::net::TcpStream, chain: Arc<Chain>, dispatch: Arc<D>) {
    let svc = hyper::service::service_fn(move |req| {
        let chain = chain.clone();
        let dispatch = dispatch.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(req, &chain, &*dispatch).await) }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    if let Err(e) = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(io, svc).await {
        tracing::debug!("connection: {e}");
    }
}

/// Accept connections on `listener` until the process is killed, with TCP_NODELAY set (the
/// request path must never wait for Nagle), handing each to `on_conn`. Accept errors (such as
/// running out of descriptors) are logged and retried, never fatal.
pub async fn accept_loop(
    listener: std::net::TcpListener,
    mut on_conn: impl FnMut(tokio::net::TcpStream),
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                on_conn(stream);
            }
            Err(e) => {
                tracing::warn!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

fn text(status: StatusCode, msg: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(msg + "\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("text/plain"));
    r
}

/// The client's identity: the `x-user` header, else the `shop_session-id` cookie (Online
/// Boutique's session cookie); empty if neither is there.
fn identity(req: &Request<Incoming>) -> Result<String, String> {
    let value = match req.headers().get("x-user") {
        Some(v) => Some(v.to_str().map_err(|_| "x-user is not ASCII".to_string())?.to_string()),
        None => req
            .headers()
            .get_all(hyper::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix("shop_session-id="))
            .map(str::to_string)
            .next(),
    };
    let user = value.unwrap_or_default();
    if user.len() > USER_BYTES || !user.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("user identity {user:?} must be at most {USER_BYTES} visible ASCII characters"));
    }
    Ok(user)
}

async fn handle<D: Dispatch>(req: Request<Incoming>, chain: &Chain, dispatch: &D) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let route = match chain.resolve(req.method().as_str(), &path) {
        Resolved::Route(route, param) => {
            let mut state = State::new(route.id);
            if !param.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                || !set_padded(&mut state.param, param)
            {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("path parameter {param:?} must be at most {PARAM_BYTES} characters of [A-Za-z0-9_-]"),
                );
            }
            match identity(&req) {
                Ok(user) => set_padded(&mut state.user, &user),
                Err(e) => return text(StatusCode::BAD_REQUEST, e),
            };
            (route, state)
        }
        Resolved::WrongMethod(allowed) => {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method {} not allowed on {path}; use {}", req.method(), allowed.join(" or ")),
            )
        }
        Resolved::NotFound => {
            let names: Vec<String> = chain
                .routes
                .iter()
                .map(|r| r.http.as_ref().map_or_else(|| format!("/{}", r.name), |p| p.to_string()))
                .collect();
            return text(
                StatusCode::NOT_FOUND,
                format!("no route for {path:?}; routes of chain {}: {}", chain.name, names.join(", ")),
            );
        }
    };
    let (route, state) = route;
    let max = chain.max_body_bytes;
    let declared = req.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        drain(req.into_body()).await;
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body of {} bytes exceeds max_body_bytes {max}", declared.unwrap_or(0)),
        );
    }
    let mut body = req.into_body();
    let body = match Limited::new(&mut body, max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            drain(body).await;
            return text(StatusCode::PAYLOAD_TOO_LARGE, format!("body exceeds max_body_bytes {max}"));
        }
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
    };
    match dispatch.dispatch(route, state, body).await {
        Ok(reply) => {
            let mut r = Response::new(Full::new(Bytes::from(reply.body)));
            *r.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        Err(e) => text(e.status(), e.to_string()),
    }
}

/// Read and discard the rest of a rejected body (up to 64 MiB), so that the 413 reaches a client
/// or proxy still sending it instead of a connection reset mid-write.
async fn drain(mut body: Incoming) {
    let mut left: usize = 64 << 20;
    while let Some(Ok(frame)) = body.frame().await {
        let n = frame.data_ref().map_or(0, |d| d.len());
        if n > left {
            return;
        }
        left -= n;
    }
}
