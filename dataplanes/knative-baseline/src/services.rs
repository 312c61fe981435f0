//! The Knative services of a chain: one per function with the chain's knobs, plus the chain's
//! gateway; their names, hosts and command lines, for the local model ([`crate::control`]) and
//! the generated manifests ([`crate::manifests`]) alike.

use crate::names;
use workloads::{Chain, FnId, Serving};

/// What the data path runs for a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// The chain's HTTP entry (its timeout comes from the chain spec).
    Gateway,
    Function(FnId),
}

pub struct ServiceSpec {
    pub name: String,
    pub host: String,
    /// Component names of its instances: `gateway` or `<id>-<function>`.
    pub short: String,
    pub serving: Serving,
    pub workload: Workload,
    /// The gateway drives pipeline routes as a proxy (option `pipeline=proxy`).
    pub proxy_pipelines: bool,
}

impl ServiceSpec {
    /// Whether the workload speaks gRPC (h2c) rather than HTTP/1.1.
    pub fn h2c(&self) -> bool {
        matches!(self.workload, Workload::Function(_))
    }

    /// Arguments after `<exe> component knative` that run this service's workload, locally and
    /// in a container alike: it reads the chain spec at `chain_file` and calls its peers
    /// through `via`.
    pub fn command(&self, chain_file: &str, via: &str, peer_args: &[String]) -> Vec<String> {
        let mut args = match self.workload {
            Workload::Gateway if self.proxy_pipelines => vec!["gateway".to_string(), "--proxy-pipelines".to_string()],
            Workload::Gateway => vec!["gateway".to_string()],
            Workload::Function(id) => vec!["function".to_string(), format!("--id={id}")],
        };
        args.extend([format!("--chain={chain_file}"), format!("--via={via}")]);
        args.extend(peer_args.iter().cloned());
        args
    }
}

/// `--peer=<id>=<host>` for every function service: where the workloads send their calls.
pub fn peer_args(specs: &[ServiceSpec]) -> Vec<String> {
    specs
        .iter()
        .filter_map(|s| match s.workload {
            Workload::Function(id) => Some(format!("--peer={id}={}", s.host)),
            Workload::Gateway => None,
        })
        .collect()
}

/// The services of a chain: its gateway (always one warm instance with unlimited concurrency:
/// it is the chain's HTTP entry, not one of the functions the knobs are about; with
/// `proxy_pipelines` it calls a pipeline's functions in turn) and one per function with the
/// chain's knobs.
pub fn services(chain: &Chain, namespace: &str, domain: &str, proxy_pipelines: bool) -> Vec<ServiceSpec> {
    let gw = names::gateway_service(chain);
    let mut v = vec![ServiceSpec {
        host: names::host(&gw, namespace, domain),
        name: gw,
        short: "gateway".into(),
        serving: gateway_serving(),
        workload: Workload::Gateway,
        proxy_pipelines,
    }];
    for f in &chain.functions {
        let name = names::function_service(chain, f);
        v.push(ServiceSpec {
            host: names::host(&name, namespace, domain),
            name,
            short: format!("{}-{}", f.id, f.name),
            serving: f.serving,
            workload: Workload::Function(f.id),
            proxy_pipelines: false,
        });
    }
    v
}

/// How the gateway service is served (see [`services`]).
pub fn gateway_serving() -> Serving {
    Serving { container_concurrency: 0, min_scale: 1, max_scale: 1, target_burst_capacity: 0, ..Serving::default() }
}
