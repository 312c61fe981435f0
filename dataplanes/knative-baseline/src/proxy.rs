//! The reverse-proxy engine shared by the Knative model's ingress, activator and queue-proxy.
//!
//! Each of them accepts HTTP/1.1 and HTTP/2 with prior knowledge (h2c, which gRPC uses) on one
//! port, as Envoy/Kourier and Knative's Go proxies do, and forwards a request with the protocol
//! it arrived in: HTTP/2 streams are multiplexed on one pooled connection per upstream, HTTP/1.1
//! requests use a keep-alive pool. Bodies and trailers (gRPC's status) stream through untouched.
//!
//! Replies a proxy makes itself (unknown host, queue full, timeout, upstream down) are one line
//! of text for HTTP clients and a trailers-only gRPC status for gRPC clients, as Envoy does, so
//! the calling function sees the proxy's reason rather than a bare HTTP status.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

pub type Body = BoxBody<Bytes, hyper::Error>;

/// Header the ingress sets to name the Knative service a request is for (Knative's ingress does
/// the same when it routes to the activator).
pub const SERVICE_HEADER: &str = "knative-serving-revision";

/// Headers that belong to one HTTP/1.1 connection, never forwarded.
const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];

/// Pooled HTTP/1.1 and h2c clients.
#[derive(Clone)]
pub struct Forwarder {
    h1: Client<HttpConnector, Incoming>,
    h2: Client<HttpConnector, Incoming>,
}

impl Default for Forwarder {
    fn default() -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let h1 = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build(conn.clone());
        let h2 = Client::builder(TokioExecutor::new()).http2_only(true).build(conn);
        Forwarder { h1, h2 }
    }
}

impl Forwarder {
    /// Send `req` to `to` with the protocol it arrived in; the response comes back as is.
    pub async fn forward(&self, mut req: Request<Incoming>, to: SocketAddr) -> Result<Response<Body>, String> {
        let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        *req.uri_mut() = format!("http://{to}{path}").parse::<Uri>().map_err(|e| format!("bad upstream uri: {e}"))?;
        let h2 = req.version() == Version::HTTP_2;
        if !h2 {
            for h in HOP_BY_HOP {
                req.headers_mut().remove(*h);
            }
        }
        let client = if h2 { &self.h2 } else { &self.h1 };
        match client.request(req).await {
            Ok(resp) => Ok(resp.map(|b| b.boxed())),
            Err(e) => {
                // The legacy client's Display says only "client error (Connect)"; the source says why.
                let mut msg = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    msg += &format!(": {s}");
                    src = s.source();
                }
                Err(msg)
            }
        }
    }
}

/// Whether a request is gRPC (its errors must be gRPC statuses).
pub fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/grpc"))
}

/// A reply made by the proxy itself: text for HTTP, a trailers-only status for gRPC.
pub fn local_reply(grpc: bool, status: StatusCode, msg: &str) -> Response<Body> {
    let body = |b: Bytes| Full::new(b).map_err(|never| match never {}).boxed();
    if grpc {
        let code = match status {
            StatusCode::NOT_FOUND => 12,                                        // UNIMPLEMENTED
            StatusCode::GATEWAY_TIMEOUT => 4,                                   // DEADLINE_EXCEEDED
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => 8, // RESOURCE_EXHAUSTED
            StatusCode::BAD_REQUEST => 3,                                       // INVALID_ARGUMENT
            _ => 14,                                                            // UNAVAILABLE
        };
        let mut r = Response::new(body(Bytes::new()));
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        h.insert(HeaderName::from_static("grpc-status"), HeaderValue::from(code));
        if let Ok(v) = HeaderValue::from_str(&grpc_message(msg)) {
            h.insert(HeaderName::from_static("grpc-message"), v);
        }
        return r;
    }
    let mut r = Response::new(body(Bytes::from(format!("{msg}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// gRPC's percent-encoding of `grpc-message`.
fn grpc_message(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for b in msg.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

/// A text response (admin endpoints).
pub fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

/// What a proxy does with one request.
pub trait Handle: Send + Sync + 'static {
    fn handle(&self, req: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// HTTP/2 streams one connection may carry at once in the model's proxies.
const MAX_STREAMS: u32 = 1 << 20;

/// Serve HTTP/1.1 and h2c on `listener` until the process is killed.
pub async fn serve<H: Handle>(listener: std::net::TcpListener, handler: Arc<H>) -> std::io::Result<()> {
    dataplane_api::gateway::accept_loop(listener, move |stream| {
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let handler = handler.clone();
                async move { Ok::<_, std::convert::Infallible>(handler.handle(req).await) }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // hyper's default of 200 streams a connection deadlocked nested calls: the calls the
            // activator holds for a cold function stay open on the ingress's one HTTP/2
            // connection to it, and that function's own calls to a cold successor then found no
            // stream left (Envoy would open another connection; this client waits instead).
            builder.http2().max_concurrent_streams(MAX_STREAMS);
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!("connection: {e}");
            }
        });
    })
    .await
}

/// The `host` a request is for, without port, lower-cased: `:authority` for HTTP/2, the `Host`
/// header for HTTP/1.1.
pub fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(a) => a.host().to_string(),
        None => {
            let h = req.headers().get(hyper::header::HOST)?.to_str().ok()?;
            h.rsplit_once(':')
                .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
                .map(|(h, _)| h)
                .unwrap_or(h)
                .into()
        }
    };
    Some(raw.to_ascii_lowercase())
}

/// Prometheus text exposition: `# TYPE` once per metric name, then the samples.
#[derive(Default)]
pub struct Metrics {
    out: String,
    typed: Vec<&'static str>,
}

impl Metrics {
    pub fn sample(&mut self, name: &'static str, kind: &'static str, labels: &[(&str, &str)], value: u64) {
        if !self.typed.contains(&name) {
            self.out += &format!("# TYPE {name} {kind}\n");
            self.typed.push(name);
        }
        self.out += name;
        if !labels.is_empty() {
            let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('"', "'"))).collect();
            self.out += &format!("{{{}}}", l.join(","));
        }
        self.out += &format!(" {value}\n");
    }

    pub fn render(self) -> String {
        self.out
    }
}

/// Parse Prometheus text into `(name{labels}, value)` pairs (what [`Metrics`] writes).
pub fn parse_metrics(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_round_trip() {
        let mut m = Metrics::default();
        m.sample("queue_requests_total", "counter", &[], 7);
        m.sample("ingress_requests_total", "counter", &[("host", "a.b")], 3);
        m.sample("ingress_requests_total", "counter", &[("host", "c.d")], 4);
        let text = m.render();
        assert_eq!(text.matches("# TYPE ingress_requests_total counter").count(), 1);
        assert_eq!(
            parse_metrics(&text),
            vec![
                ("queue_requests_total".into(), 7),
                ("ingress_requests_total{host=\"a.b\"}".into(), 3),
                ("ingress_requests_total{host=\"c.d\"}".into(), 4)
            ]
        );
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(grpc_message("queue full: 100%"), "queue full: 100%25");
        assert_eq!(grpc_message("é"), "%C3%A9");
    }

    #[test]
    fn host_comes_from_authority_or_header() {
        let r = Request::builder().uri("http://Svc.NS.example.com:80/x").body(()).unwrap();
        assert_eq!(request_host(&r).as_deref(), Some("svc.ns.example.com"));
        let r = Request::builder().uri("/x").header("host", "a.example.com:8080").body(()).unwrap();
        assert_eq!(request_host(&r).as_deref(), Some("a.example.com"));
        let r = Request::builder().uri("/x").body(()).unwrap();
        assert_eq!(request_host(&r), None);
    }
}
