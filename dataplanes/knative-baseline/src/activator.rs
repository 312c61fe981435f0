//! The activator: in the path while a service has no ready instance (and, depending on
//! target-burst-capacity, also after). It buffers the request, asks the autoscaler for an
//! instance, forwards once one is routable, and answers 503 with the reason if none becomes
//! ready in time. Each request that had to wait is reported back to the autoscaler with its
//! timestamps, which is how the results break a cold start into its parts.

use crate::proxy::{self, local_reply, Body, Forwarder, Handle, Metrics, SERVICE_HEADER};
use crate::routes::Routes;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub struct Activator {
    pub routes: Arc<Routes>,
    fwd: Forwarder,
    control: Client<HttpConnector, Full<Bytes>>,
    autoscaler: SocketAddr,
    /// How long a request may wait for an instance.
    wait: Duration,
    cold_waits: AtomicU64,
    /// Held requests that were forwarded and reported to the autoscaler.
    cold_reported: AtomicU64,
    timeouts: AtomicU64,
    upstream_errors: AtomicU64,
}

impl Activator {
    pub fn new(autoscaler: SocketAddr, wait: Duration) -> Self {
        Activator {
            routes: Arc::default(),
            fwd: Forwarder::default(),
            control: Client::builder(TokioExecutor::new()).build_http(),
            autoscaler,
            wait,
            cold_waits: AtomicU64::new(0),
            cold_reported: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            upstream_errors: AtomicU64::new(0),
        }
    }

    pub fn metrics(&self) -> String {
        let mut m = Metrics::default();
        for (svc, e) in self.routes.entries() {
            m.sample("activator_requests_total", "counter", &[("service", &svc)], e.requests.load(Ordering::Relaxed));
        }
        m.sample("activator_cold_waits_total", "counter", &[], self.cold_waits.load(Ordering::Relaxed));
        m.sample("activator_cold_reported_total", "counter", &[], self.cold_reported.load(Ordering::Relaxed));
        m.sample("activator_timeouts_total", "counter", &[], self.timeouts.load(Ordering::Relaxed));
        m.sample("activator_upstream_errors_total", "counter", &[], self.upstream_errors.load(Ordering::Relaxed));
        m.render()
    }

    /// Tell the autoscaler (fire and forget; failures are logged).
    fn notify(&self, path: String, body: String) {
        let client = self.control.clone();
        let uri = format!("http://{}{path}", self.autoscaler);
        tokio::spawn(async move {
            let req = Request::post(&uri).body(Full::new(Bytes::from(body))).expect("valid request");
            match client.request(req).await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!("autoscaler answered {} to {uri}", r.status()),
                Err(e) => tracing::warn!("cannot reach the autoscaler at {uri}: {e}"),
            }
        });
    }
}

impl Handle for Activator {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let grpc = proxy::is_grpc(&req);
        let Some(service) = req.headers().get(SERVICE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string) else {
            let msg = format!("activator: request without a {SERVICE_HEADER} header (it comes from the ingress)");
            return local_reply(grpc, StatusCode::BAD_REQUEST, &msg);
        };
        let Some(entry) = self.routes.get(&service) else {
            return local_reply(grpc, StatusCode::NOT_FOUND, &format!("activator: unknown service {service:?}"));
        };
        entry.requests.fetch_add(1, Ordering::Relaxed);
        let mut cold = None;
        let to = match entry.pick() {
            Some(to) => to,
            None => {
                let arrived = dataplane_api::now_ns();
                self.cold_waits.fetch_add(1, Ordering::Relaxed);
                let mut changes = self.routes.subscribe();
                self.notify(format!("/scale-up/{service}"), String::new());
                let wait = async {
                    loop {
                        if let Some(to) = entry.pick() {
                            return to;
                        }
                        if changes.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                };
                match tokio::time::timeout(self.wait, wait).await {
                    Ok(to) => {
                        cold = Some((arrived, dataplane_api::now_ns()));
                        to
                    }
                    Err(_) => {
                        self.timeouts.fetch_add(1, Ordering::Relaxed);
                        let msg =
                            format!("activator: no ready instance of {service} within {} ms", self.wait.as_millis());
                        return local_reply(grpc, StatusCode::SERVICE_UNAVAILABLE, &msg);
                    }
                }
            }
        };
        let resp = match self.fwd.forward(req, to).await {
            Ok(r) => r,
            Err(e) => {
                self.upstream_errors.fetch_add(1, Ordering::Relaxed);
                return local_reply(
                    grpc,
                    StatusCode::BAD_GATEWAY,
                    &format!("activator: upstream {to} of {service}: {e}"),
                );
            }
        };
        if let Some((arrived, routable)) = cold {
            let done = dataplane_api::now_ns();
            self.notify(format!("/cold-start/{service}"), format!("{arrived} {routable} {done}"));
            self.cold_reported.fetch_add(1, Ordering::Relaxed);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A service that never gets an instance: the held request is answered 503 with the reason
    /// once the activator's wait is over, and the autoscaler was asked for an instance.
    #[test]
    fn times_out_with_a_clear_error() {
        let autoscaler = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let scaler_addr = autoscaler.local_addr().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let act = Arc::new(Activator::new(scaler_addr, Duration::from_millis(300)));
        act.routes.set("svc", "svc", Vec::new());
        let _server = std::thread::spawn({
            let act = act.clone();
            move || {
                rt.block_on(async move {
                    tokio::time::timeout(Duration::from_secs(5), crate::proxy::serve(listener, act)).await
                })
            }
        });
        let t0 = std::time::Instant::now();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nknative-serving-revision: svc\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
        assert!(resp.contains("no ready instance of svc within 300 ms"), "{resp}");
        assert!(t0.elapsed() >= Duration::from_millis(300));
        // The autoscaler was asked to scale the service from zero.
        let (mut c, _) = autoscaler.accept().unwrap();
        let mut req = [0u8; 256];
        let n = c.read(&mut req).unwrap();
        assert!(String::from_utf8_lossy(&req[..n]).starts_with("POST /scale-up/svc "));
        let m = act.metrics();
        assert!(m.contains("activator_timeouts_total 1") && m.contains("activator_cold_waits_total 1"), "{m}");
    }
}
