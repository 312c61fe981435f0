//! The ingress gateway (Kourier/Istio's role): routes every request by its Host (`:authority`
//! for gRPC) to the service's queue-proxies, or to the activator while the service has no ready
//! instance. Client requests and every call between functions come through here.

use crate::proxy::{self, local_reply, request_host, Body, Forwarder, Handle, Metrics, SERVICE_HEADER};
use crate::routes::Routes;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, Response, StatusCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
pub struct Ingress {
    pub routes: Arc<Routes>,
    fwd: Forwarder,
    unknown_host: AtomicU64,
    upstream_errors: AtomicU64,
}

impl Ingress {
    pub fn metrics(&self) -> String {
        let mut m = Metrics::default();
        for (host, e) in self.routes.entries() {
            m.sample("ingress_requests_total", "counter", &[("host", &host)], e.requests.load(Ordering::Relaxed));
        }
        m.sample("ingress_unknown_host_total", "counter", &[], self.unknown_host.load(Ordering::Relaxed));
        m.sample("ingress_upstream_errors_total", "counter", &[], self.upstream_errors.load(Ordering::Relaxed));
        m.render()
    }
}

impl Handle for Ingress {
    async fn handle(&self, mut req: Request<Incoming>) -> Response<Body> {
        let grpc = proxy::is_grpc(&req);
        let host = request_host(&req).unwrap_or_default();
        let Some(entry) = self.routes.get(&host) else {
            self.unknown_host.fetch_add(1, Ordering::Relaxed);
            let known: Vec<String> = self.routes.entries().into_iter().map(|(h, _)| h).collect();
            let msg = format!("ingress: no service for host {host:?}; known hosts: {}", known.join(", "));
            return local_reply(grpc, StatusCode::NOT_FOUND, &msg);
        };
        entry.requests.fetch_add(1, Ordering::Relaxed);
        let Some(to) = entry.pick() else {
            let msg = format!("ingress: service {} has no upstream", entry.service);
            return local_reply(grpc, StatusCode::SERVICE_UNAVAILABLE, &msg);
        };
        if let Ok(v) = HeaderValue::from_str(&entry.service) {
            req.headers_mut().insert(SERVICE_HEADER, v);
        }
        match self.fwd.forward(req, to).await {
            Ok(r) => r,
            Err(e) => {
                self.upstream_errors.fetch_add(1, Ordering::Relaxed);
                local_reply(grpc, StatusCode::BAD_GATEWAY, &format!("ingress: upstream {to} of {}: {e}", entry.service))
            }
        }
    }
}
