//! Backend `knative-remote`: a chain already running on a real Knative cluster (see
//! `deploy/kind/`), reached through its ingress. The driver only sends load and measures it.
//!
//! Configuration (environment, as the other backends' options):
//! - `SPRIGHT_KNATIVE_INGRESS` (required): the ingress, `host:port` or `http://host:port`.
//! - `SPRIGHT_KNATIVE_NAMESPACE` (default `spright`), `SPRIGHT_KNATIVE_DOMAIN` (default
//!   `example.com`): build the Host header `gw-<chain>.<namespace>.<domain>`, as the generated
//!   manifests name the services.
//!
//! CPU cannot be measured from here (the processes are in the cluster's pods): the results say
//! so instead of reporting zeros.

use crate::names;
use crate::BoxError;
use dataplane_api::{Component, Dataplane, DeployEnv, DeployError, Deployment, Endpoint, Exit};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;
use workloads::Chain;

pub struct KnativeRemote;

pub const INGRESS_VAR: &str = "SPRIGHT_KNATIVE_INGRESS";

fn var(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

/// `host:port` or `http://host:port[/]` to a socket address.
pub fn parse_ingress(s: &str) -> Result<SocketAddr, String> {
    let hostport = s.strip_prefix("http://").unwrap_or(s).trim_end_matches('/');
    if s.starts_with("https://") {
        return Err(format!("{INGRESS_VAR}={s:?}: https is not supported; use the ingress's plain HTTP port"));
    }
    let with_port = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("{INGRESS_VAR}={s:?}: cannot resolve: {e}"))?
        .next()
        .ok_or_else(|| format!("{INGRESS_VAR}={s:?}: no address"))
}

impl Dataplane for KnativeRemote {
    fn name(&self) -> &'static str {
        "knative-remote"
    }

    fn label(&self) -> &'static str {
        "a chain on a real Knative cluster, reached through its ingress (SPRIGHT_KNATIVE_INGRESS); CPU not measurable from here"
    }

    fn deploy(&self, chain: &Chain, _env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError> {
        let raw = std::env::var(INGRESS_VAR).map_err(|_| {
            DeployError::Unsupported(format!(
                "backend knative-remote needs {INGRESS_VAR}=<host:port> of a Knative ingress where the chain is \
                 deployed (see dataplanes/knative-baseline/deploy/kind/README.md)"
            ))
        })?;
        let addr = parse_ingress(&raw).map_err(DeployError::Unsupported)?;
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| DeployError::Io {
            what: format!("connect to the Knative ingress {addr} ({INGRESS_VAR})"),
            source: e,
        })?;
        let ns = var("SPRIGHT_KNATIVE_NAMESPACE", names::NAMESPACE);
        let domain = var("SPRIGHT_KNATIVE_DOMAIN", names::DOMAIN);
        let host = names::host(&names::gateway_service(chain), &ns, &domain);
        Ok(Box::new(Remote { endpoint: Endpoint { addr, host: Some(host) }, raw }))
    }

    fn component_main(&self, _args: Vec<String>) -> Result<(), BoxError> {
        Err("knative-remote starts no local processes; its components run on the Knative cluster".into())
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
        format!("remote Knative cluster behind {} ({INGRESS_VAR})", self.raw)
    }
    fn cpu_unavailable(&self) -> Option<String> {
        Some(format!(
            "the chain runs on a remote Knative cluster ({INGRESS_VAR}={}); procfs on this host cannot see its processes",
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
        assert!(parse_ingress("https://x:443").unwrap_err().contains("https"));
        assert!(parse_ingress("no such host:1").is_err());
    }
}
