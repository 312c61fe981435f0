//! The backends the driver knows. A new backend joins every command (`run`, `reproduce`,
//! `backends`, the component dispatcher) by being added to [`all`]; nothing else changes.

use dataplane_api::Dataplane;

pub fn all() -> Vec<&'static dyn Dataplane> {
    let mut v = local();
    v.push(&knative_baseline::KnativeRemote);
    v
}

/// The backends that run entirely on this machine (what `reproduce` runs by default);
/// `knative-remote` needs a cluster the user provides.
pub fn local() -> Vec<&'static dyn Dataplane> {
    vec![&knative_baseline::Grpc, &ebpf_sk_msg::SSpright, &dpdk_poll::DSpright, &knative_baseline::Knative]
}

pub fn get(name: &str) -> Result<&'static dyn Dataplane, String> {
    all().into_iter().find(|b| b.name() == name).ok_or_else(|| {
        let names: Vec<&str> = all().iter().map(|b| b.name()).collect();
        format!("unknown backend {name:?}; available: {}", names.join(", "))
    })
}
