//! The backends the driver knows. A new backend joins every command (`run`, `reproduce`,
//! `backends`, the component dispatcher) by being added to [`all`]; nothing else changes.

use dataplane_api::{options, BackendOptions, Dataplane, OptionError};

pub fn all() -> Vec<&'static dyn Dataplane> {
    let mut v = local();
    v.push(&knative_baseline::KnativeRemote);
    v
}

/// The backends that run entirely on this machine; `knative-remote` needs a cluster the user
/// provides.
pub fn local() -> Vec<&'static dyn Dataplane> {
    let mut v = paper();
    v.push(&unix_dgram::U_SPRIGHT);
    v
}

/// The paper's four systems: what `reproduce` runs by default.
pub fn paper() -> Vec<&'static dyn Dataplane> {
    vec![&knative_baseline::Grpc, &ebpf_sk_msg::S_SPRIGHT, &dpdk_poll::D_SPRIGHT, &knative_baseline::Knative]
}

#[derive(Debug, thiserror::Error)]
#[error("unknown backend {name:?}; available: {available}")]
pub struct UnknownBackend {
    pub name: String,
    pub available: String,
}

pub fn get(name: &str) -> Result<&'static dyn Dataplane, UnknownBackend> {
    all().into_iter().find(|b| b.name() == name).ok_or_else(|| UnknownBackend {
        name: name.to_string(),
        available: all().iter().map(|b| b.name()).collect::<Vec<_>>().join(", "),
    })
}

/// `KEY=VALUE` options from the command line, validated against what `backend` declares.
pub fn options(backend: &dyn Dataplane, given: &[String]) -> Result<BackendOptions, OptionError> {
    let pairs = given.iter().map(|g| options::parse_assignment(g)).collect::<Result<Vec<_>, _>>()?;
    BackendOptions::resolve(backend.name(), backend.options(), &pairs)
}
