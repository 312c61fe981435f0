//! RPC baselines of the paper, every function its own process.
//!
//! - `grpc` ([`Grpc`]): the paper's "gRPC" baseline. Functions serve gRPC (tonic, h2c) and call
//!   the next function (pipelines) or their callees (call trees) directly, encoding the request
//!   state as protobuf on every hop. The client enters through the shared HTTP/1.1 gateway
//!   ([`dataplane_api::gateway`]), which makes the first gRPC call.
//!
//! - `knative` ([`Knative`]): a local model of Knative Serving's data path: ingress, queue-proxy
//!   per function instance, activator, and an autoscaler ([`control`]) that scales to and from
//!   zero. The same function servers call each other through the ingress (`--via`), with the
//!   callee's Knative host as the HTTP/2 authority.
//! - `knative-remote` ([`KnativeRemote`]): the same chain on a real Knative cluster (manifests
//!   from [`manifests`], cluster from `deploy/kind/`), measured through its ingress.

mod activator;
pub mod admin;
pub mod autoscale;
pub mod control;
pub mod function;
pub mod gateway;
mod grpc;
mod ingress;
mod knative;
pub mod manifests;
pub mod names;
pub mod proxy;
mod queue_proxy;
mod remote;
mod routes;
pub mod services;

pub use grpc::Grpc;
pub use knative::Knative;
pub use remote::KnativeRemote;

/// Generated protobuf and gRPC code for `proto/chain.proto`.
pub mod proto {
    tonic::include_proto!("spright.chain.v1");
}

use workloads::State;

impl From<State> for proto::State {
    fn from(s: State) -> Self {
        let text = |f: &[u8]| f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())].to_vec();
        proto::State {
            digest: s.digest,
            visits: s.visits,
            route: s.route as u32,
            status: s.status as u32,
            fanout: s.fanout as u32,
            iter: s.iter as u32,
            user: text(&s.user),
            param: text(&s.param),
        }
    }
}

impl From<proto::State> for State {
    /// Fields out of range (a peer is not a trusted source) are cut to fit.
    fn from(s: proto::State) -> Self {
        let mut out = State {
            digest: s.digest,
            visits: s.visits,
            route: s.route as u16,
            status: s.status.min(u16::MAX as u32) as u16,
            fanout: s.fanout as u16,
            iter: s.iter as u16,
            ..State::new(0)
        };
        let n = s.user.len().min(out.user.len());
        out.user[..n].copy_from_slice(&s.user[..n]);
        let n = s.param.len().min(out.param.len());
        out.param[..n].copy_from_slice(&s.param[..n]);
        out
    }
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Largest gRPC message for a chain: the body limit plus room for the header fields.
pub fn max_message(chain: &workloads::Chain) -> usize {
    chain.max_body_bytes + 4096
}
