//! The routing table the control plane programs into the ingress and the activator, and the
//! admin endpoint that takes the updates (Kourier gets the same from its xDS control plane,
//! the activator from endpoint watches).
//!
//! Admin protocol (HTTP/1.1 on the component's second socket):
//! - `PUT /routes/<key>` with body `<service> [<host:port> ...]`: route `key` (the ingress's
//!   Host, the activator's service name) to those upstreams, round robin; no upstream means the
//!   service is known but has nothing to route to.
//! - `GET /metrics`: Prometheus text.

use crate::proxy::{text, Body};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

pub struct Entry {
    pub service: String,
    upstreams: RwLock<Vec<SocketAddr>>,
    next: AtomicUsize,
    /// Requests seen for this key.
    pub requests: AtomicU64,
}

impl Entry {
    /// The next upstream, round robin; `None` when there is none.
    pub fn pick(&self) -> Option<SocketAddr> {
        let ups = self.upstreams.read().unwrap_or_else(|e| e.into_inner());
        if ups.is_empty() {
            return None;
        }
        Some(ups[self.next.fetch_add(1, Ordering::Relaxed) % ups.len()])
    }
}

pub struct Routes {
    map: RwLock<HashMap<String, Arc<Entry>>>,
    version: tokio::sync::watch::Sender<u64>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes { map: RwLock::default(), version: tokio::sync::watch::Sender::new(0) }
    }
}

impl Routes {
    pub fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).get(key).cloned()
    }

    pub fn set(&self, key: &str, service: &str, upstreams: Vec<SocketAddr>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        match map.get(key) {
            Some(e) => *e.upstreams.write().unwrap_or_else(|e| e.into_inner()) = upstreams,
            None => {
                let e = Entry {
                    service: service.to_string(),
                    upstreams: RwLock::new(upstreams),
                    next: AtomicUsize::new(0),
                    requests: AtomicU64::new(0),
                };
                map.insert(key.to_string(), Arc::new(e));
            }
        }
        drop(map);
        self.version.send_modify(|v| *v += 1);
    }

    /// Wakes on every update (the activator waits on it for an instance to appear).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Every key with its entry, sorted by key.
    pub fn entries(&self) -> Vec<(String, Arc<Entry>)> {
        let mut v: Vec<_> =
            self.map.read().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, e)| (k.clone(), e.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Parse a `PUT /routes/<key>` body.
pub fn parse_update(body: &str) -> Result<(String, Vec<SocketAddr>), String> {
    let mut it = body.split_whitespace();
    let service = it.next().ok_or("empty route update: expected `<service> [<host:port> ...]`")?;
    let ups = it.map(|a| a.parse().map_err(|e| format!("bad upstream {a:?}: {e}"))).collect::<Result<_, _>>()?;
    Ok((service.to_string(), ups))
}

/// The admin endpoint of a routing proxy: route updates and metrics.
pub struct RoutesAdmin<M> {
    pub routes: Arc<Routes>,
    pub metrics: M,
}

impl<M: Fn() -> String + Send + Sync + 'static> crate::proxy::Handle for RoutesAdmin<M> {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        use http_body_util::BodyExt;
        let path = req.uri().path().to_string();
        match (req.method().clone(), path.strip_prefix("/routes/")) {
            (Method::PUT, Some(key)) if !key.is_empty() => {
                let body = match req.into_body().collect().await {
                    Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                    Err(e) => return text(StatusCode::BAD_REQUEST, format!("cannot read body: {e}\n")),
                };
                match parse_update(&body) {
                    Ok((service, ups)) => {
                        tracing::info!("route {key} -> {service} {ups:?}");
                        self.routes.set(key, &service, ups);
                        text(StatusCode::OK, String::new())
                    }
                    Err(e) => text(StatusCode::BAD_REQUEST, e + "\n"),
                }
            }
            (Method::GET, _) if path == "/metrics" => text(StatusCode::OK, (self.metrics)()),
            _ => text(StatusCode::NOT_FOUND, format!("no admin endpoint {} {path}\n", req.method())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_and_updates_in_place() {
        let r = Routes::default();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        r.set("h", "svc", vec![a, b]);
        let e = r.get("h").unwrap();
        e.requests.fetch_add(1, Ordering::Relaxed);
        let picks: Vec<_> = (0..4).map(|_| e.pick().unwrap()).collect();
        assert_eq!(picks, vec![a, b, a, b]);
        r.set("h", "svc", vec![]);
        assert_eq!(r.get("h").unwrap().pick(), None);
        assert_eq!(r.get("h").unwrap().requests.load(Ordering::Relaxed), 1, "counts survive updates");
    }

    #[test]
    fn update_bodies() {
        assert_eq!(parse_update("svc 127.0.0.1:5").unwrap(), ("svc".into(), vec!["127.0.0.1:5".parse().unwrap()]));
        assert_eq!(parse_update("svc").unwrap(), ("svc".into(), vec![]));
        assert!(parse_update("").is_err());
        assert!(parse_update("svc nowhere").unwrap_err().contains("nowhere"));
    }
}
