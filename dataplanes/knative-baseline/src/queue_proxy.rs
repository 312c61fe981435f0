//! The queue-proxy: the sidecar in front of every function instance. It enforces
//! containerConcurrency with a breaker (requests beyond it wait in a bounded queue, as in
//! Knative, whose queue depth is 10x the concurrency), applies the revision's request timeout,
//! counts requests and concurrency for the autoscaler (Prometheus text on its admin socket), and
//! probes the function until it answers before reporting ready.
//!
//! Readiness probe: an HTTP request to the function (HTTP/2 for gRPC functions), any response
//! meaning ready. A bare TCP connect, Knative's default, would prove nothing here, because the
//! function's listening socket is bound by the driver before the function process even starts.

use crate::proxy::{self, local_reply, text, Body, Forwarder, Handle, Metrics};
use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct QueueProxy {
    service: String,
    upstream: SocketAddr,
    fwd: Forwarder,
    /// `None` for containerConcurrency 0 (unlimited).
    breaker: Option<Semaphore>,
    container_concurrency: u32,
    max_waiting: u64,
    timeout: Duration,
    requests: AtomicU64,
    in_flight: Arc<AtomicU64>,
    waiting: Arc<AtomicU64>,
    waited: AtomicU64,
    rejected: AtomicU64,
    timeouts: AtomicU64,
    upstream_errors: AtomicU64,
}

/// Decrements a gauge when dropped (also when a request is cancelled or times out).
struct Gauge(Arc<AtomicU64>);

impl Gauge {
    fn up(g: &Arc<AtomicU64>) -> Gauge {
        g.fetch_add(1, Ordering::Relaxed);
        Gauge(g.clone())
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl QueueProxy {
    pub fn new(service: String, upstream: SocketAddr, container_concurrency: u32, timeout: Duration) -> Self {
        let cc = container_concurrency;
        QueueProxy {
            service,
            upstream,
            fwd: Forwarder::default(),
            breaker: (cc > 0).then(|| Semaphore::new(cc as usize)),
            container_concurrency: cc,
            max_waiting: 10 * cc as u64,
            timeout,
            requests: AtomicU64::new(0),
            in_flight: Arc::default(),
            waiting: Arc::default(),
            waited: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            upstream_errors: AtomicU64::new(0),
        }
    }

    pub fn metrics(&self) -> String {
        let mut m = Metrics::default();
        let svc = [("service", self.service.as_str())];
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        m.sample("queue_requests_total", "counter", &svc, get(&self.requests));
        m.sample("queue_in_flight", "gauge", &svc, get(&self.in_flight));
        m.sample("queue_waiting", "gauge", &svc, get(&self.waiting));
        m.sample("queue_waited_total", "counter", &svc, get(&self.waited));
        m.sample("queue_rejected_total", "counter", &svc, get(&self.rejected));
        m.sample("queue_timeouts_total", "counter", &svc, get(&self.timeouts));
        m.sample("queue_upstream_errors_total", "counter", &svc, get(&self.upstream_errors));
        m.sample("queue_container_concurrency", "gauge", &svc, self.container_concurrency as u64);
        m.render()
    }

    async fn admit_and_forward(&self, req: Request<Incoming>, grpc: bool) -> Response<Body> {
        let _permit = match &self.breaker {
            None => None,
            Some(b) => match b.try_acquire() {
                Ok(p) => Some(p),
                Err(_) => {
                    if self.waiting.load(Ordering::Relaxed) >= self.max_waiting {
                        self.rejected.fetch_add(1, Ordering::Relaxed);
                        let msg = format!(
                            "queue-proxy {}: queue full ({} waiting, containerConcurrency {})",
                            self.service, self.max_waiting, self.container_concurrency
                        );
                        return local_reply(grpc, StatusCode::SERVICE_UNAVAILABLE, &msg);
                    }
                    self.waited.fetch_add(1, Ordering::Relaxed);
                    let _w = Gauge::up(&self.waiting);
                    Some(b.acquire().await.expect("the breaker is never closed"))
                }
            },
        };
        let _f = Gauge::up(&self.in_flight);
        match self.fwd.forward(req, self.upstream).await {
            Ok(r) => r,
            Err(e) => {
                self.upstream_errors.fetch_add(1, Ordering::Relaxed);
                let msg = format!("queue-proxy {}: function at {} unreachable: {e}", self.service, self.upstream);
                local_reply(grpc, StatusCode::BAD_GATEWAY, &msg)
            }
        }
    }

    /// Probe the function every 10 ms until it answers an HTTP request.
    pub async fn wait_ready(&self, h2c: bool) {
        let client = Client::builder(TokioExecutor::new()).http2_only(h2c).build_http::<Empty<Bytes>>();
        let uri: hyper::Uri =
            format!("http://{}/", self.upstream).parse().expect("socket address is a valid authority");
        let mut tries = 0u64;
        loop {
            let probe = client.get(uri.clone());
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), probe).await {
                tracing::info!("function at {} is ready after {} probes", self.upstream, tries + 1);
                return;
            }
            tries += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Handle for QueueProxy {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let grpc = proxy::is_grpc(&req);
        match tokio::time::timeout(self.timeout, self.admit_and_forward(req, grpc)).await {
            Ok(r) => r,
            Err(_) => {
                self.timeouts.fetch_add(1, Ordering::Relaxed);
                let msg = format!("queue-proxy {}: no answer within timeoutSeconds ({:?})", self.service, self.timeout);
                local_reply(grpc, StatusCode::GATEWAY_TIMEOUT, &msg)
            }
        }
    }
}

/// The queue-proxy's admin socket: `/metrics` and `/ready`.
pub struct QueueAdmin(pub Arc<QueueProxy>);

impl Handle for QueueAdmin {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        match req.uri().path() {
            "/metrics" => text(StatusCode::OK, self.0.metrics()),
            "/ready" => text(StatusCode::OK, "ready\n".into()),
            p => text(StatusCode::NOT_FOUND, format!("no admin endpoint {p}\n")),
        }
    }
}
