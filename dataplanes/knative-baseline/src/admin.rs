//! The driver's HTTP client for the model's admin endpoints (route updates, Prometheus metrics),
//! off the measured path: reqwest, with keep-alive, chunked bodies and status handling done by a
//! maintained client. The load generator keeps its own client: its timing is the measurement.

use crate::proxy::parse_metrics;
use dataplane_api::Counter;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{what} at {addr}: {source}")]
    Http { what: String, addr: SocketAddr, source: reqwest::Error },
    #[error("{what} at {addr}: HTTP {status}: {body}")]
    Status { what: String, addr: SocketAddr, status: u16, body: String },
}

/// One client per user, its connections kept alive between calls. Blocking: call it from
/// plain threads (the driver's), never from inside an async runtime.
#[derive(Clone)]
pub struct Admin {
    http: reqwest::blocking::Client,
}

impl Admin {
    pub fn new() -> Result<Self, reqwest::Error> {
        let http = reqwest::blocking::Client::builder()
            .no_proxy() // loopback only: never through a proxy from the environment
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Admin { http })
    }

    fn call(&self, req: reqwest::blocking::RequestBuilder, what: &str, addr: SocketAddr) -> Result<String, AdminError> {
        let err = |source| AdminError::Http { what: what.into(), addr, source };
        let resp = req.send().map_err(err)?;
        let status = resp.status();
        let body = resp.text().map_err(err)?;
        if !status.is_success() {
            return Err(AdminError::Status { what: what.into(), addr, status: status.as_u16(), body });
        }
        Ok(body)
    }

    /// The metrics of `component`'s admin endpoint, as counters named after it.
    pub fn scrape(&self, component: &str, addr: SocketAddr) -> Result<Vec<Counter>, AdminError> {
        let body = self.call(self.http.get(format!("http://{addr}/metrics")), &format!("{component} metrics"), addr)?;
        Ok(parse_metrics(&body)
            .into_iter()
            .map(|(name, value)| Counter { component: component.to_string(), name, value })
            .collect())
    }

    /// Set route `key` of a proxy's routing table ([`crate::routes`]).
    pub fn put_route(&self, addr: SocketAddr, key: &str, body: String) -> Result<(), AdminError> {
        let req = self.http.put(format!("http://{addr}/routes/{key}")).body(body);
        self.call(req, &format!("route update {key}"), addr).map(drop)
    }
}

/// Sum of the samples of metric `name`, whatever their labels.
pub fn metric(counters: &[Counter], name: &str) -> u64 {
    counters.iter().filter(|c| c.name.split('{').next() == Some(name)).map(|c| c.value).sum()
}
