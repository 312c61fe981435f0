//! Backend `knative-remote`: a chain already running on a real Knative cluster (see
//! `deploy/kind/`), reached through its ingress. The driver only sends load and measures it.
//!
//! Options (`--backend-opt`):
//! - `ingress` (required): the ingress, `host:port` or `http://host:port`.
//! - `namespace` (default `spright`), `domain` (default `example.com`): build the Host header
//!   `gw-<chain>.<namespace>.<domain>`, as the generated manifests name the services.
//!
//! CPU cannot be measured from here (the processes are in the cluster's pods): the results say
//! so instead of reporting zeros.

use crate::names;
use crate::BoxError;
use dataplane_api::{
    Component, Dataplane, DeployEnv, DeployError, Deployment, Endpoint, Exit, Invalid, OptionError, OptionSpec, Values,
};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;
use workloads::Chain;

pub struct KnativeRemote;

/// A name in a DNS host name (a namespace, each part of a domain).
fn check_dns(v: &str) -> Result<(), Invalid> {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
    };
    if v.split('.').all(label) {
        Ok(())
    } else {
        Err(Invalid::expected("DNS labels of [a-z0-9-], separated by dots"))
    }
}

const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "ingress",
        help: "the Knative ingress where the chain is deployed, host:port or http://host:port",
        default: None,
        values: Values::Check(|v| parse_ingress(v).map(drop).map_err(|e| Invalid::expected(e.to_string()))),
    },
    OptionSpec {
        key: "namespace",
        help: "the services' Kubernetes namespace (their hosts are <service>.<namespace>.<domain>)",
        default: Some(names::NAMESPACE),
        values: Values::Check(check_dns),
    },
    OptionSpec {
        key: "domain",
        help: "Knative's external domain",
        default: Some(names::DOMAIN),
        values: Values::Check(check_dns),
    },
];

#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("https is not supported; use the ingress's plain HTTP port")]
    Https,
    #[error("cannot resolve {0}: {1}")]
    Resolve(String, std::io::Error),
    #[error("{0} has no address")]
    NoAddress(String),
}

/// `host:port` or `http://host:port[/]` to a socket address.
pub fn parse_ingress(s: &str) -> Result<SocketAddr, IngressError> {
    let hostport = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
    if s.starts_with("https://") {
        return Err(IngressError::Https);
    }
    let with_port = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| IngressError::Resolve(with_port.clone(), e))?
        .next()
        .ok_or_else(|| IngressError::NoAddress(with_port.clone()))
}

impl Dataplane for KnativeRemote {
    fn name(&self) -> &'static str {
        "knative-remote"
    }

    fn label(&self) -> &'static str {
        "a chain on a real Knative cluster, reached through its ingress (option ingress); CPU not measurable from here"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn deploy(&self, chain: &Chain, env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError> {
        let opt = |k: &str| env.options.get(OPTIONS, k).map(str::to_string);
        let raw = opt("ingress").ok_or_else(|| OptionError::Missing {
            backend: self.name().into(),
            key: "ingress".into(),
            help: "the host:port of a Knative ingress where the chain is deployed (see \
                   dataplanes/knative-baseline/deploy/kind/README.md)"
                .into(),
        })?;
        let addr = parse_ingress(&raw).map_err(DeployError::host("the ingress (option ingress)"))?;
        let (ns, domain) = (opt("namespace").unwrap_or_default(), opt("domain").unwrap_or_default());
        let host = names::host(&names::gateway_service(chain), &ns, &domain);
        check_ready(addr, &host, &chain.routes[0].name)?;
        Ok(Box::new(Remote { endpoint: Endpoint { addr, host: Some(host) }, raw }))
    }

    fn component_main(&self, _args: Vec<String>) -> Result<(), BoxError> {
        Err("knative-remote starts no local processes; its components run on the Knative cluster".into())
    }
}

/// Readiness: the chain answers a request on its first route through the ingress (which may
/// have to start its functions first: a cold start on a real cluster takes seconds).
fn check_ready(addr: SocketAddr, host: &str, route: &str) -> Result<(), DeployError> {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(DeployError::host("create an HTTP client"))?;
    let resp = client
        .get(format!("http://{addr}/{route}"))
        .header(reqwest::header::HOST, host)
        .send()
        .map_err(DeployError::host(format!("reach the Knative ingress at {addr} (option ingress)")))?;
    let status = resp.status();
    let body = resp.text().unwrap_or_default();
    match status.as_u16() {
        200 => Ok(()),
        404 => Err(DeployError::NotServing(format!(
            "the ingress at {addr} has no service for host {host} ({}); is the chain deployed there with this \
             namespace and domain (options namespace, domain)? See dataplanes/knative-baseline/deploy/kind/README.md",
            body.trim()
        ))),
        s => Err(DeployError::NotServing(format!(
            "the chain behind the ingress at {addr} (host {host}) is not ready: GET /{route} answered HTTP {s}: {}",
            body.trim()
        ))),
    }
}

struct Remote {
    endpoint: Endpoint,
    raw: String,
}

impl Deployment for Remote {
    fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }
    fn components(&self) -> Vec<Component> {
        Vec::new()
    }
    fn placement(&self) -> String {
        format!("remote Knative cluster behind {} (option ingress)", self.raw)
    }
    fn cpu_unavailable(&self) -> Option<String> {
        Some(format!(
            "the chain runs on a remote Knative cluster (ingress {}); procfs on this host cannot see its processes",
            self.raw
        ))
    }
    fn teardown(self: Box<Self>) -> Vec<Exit> {
        Vec::new() // the cluster is the user's; nothing was started here
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_forms() {
        assert_eq!(parse_ingress("127.0.0.1:8080").unwrap(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(parse_ingress("http://127.0.0.1:8080/").unwrap(), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(parse_ingress("http://127.0.0.1").unwrap(), "127.0.0.1:80".parse().unwrap());
        assert!(matches!(parse_ingress("https://x:443"), Err(IngressError::Https)));
        assert!(parse_ingress("no such host:1").is_err());
        assert!(check_dns("spright").is_ok() && check_dns("example.com").is_ok());
        assert!(check_dns("Not valid!").is_err() && check_dns("a..b").is_err() && check_dns("-a").is_err());
    }
}
