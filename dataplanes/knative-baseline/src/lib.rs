//! RPC baselines of the paper, every function its own process.
//!
//! - `grpc` ([`Grpc`]): the paper's "gRPC" baseline. Functions serve gRPC (tonic, h2c) and call
//!   the next function (pipelines) or their callees (call trees) directly, encoding the request
//!   state as protobuf on every hop. The client enters through the shared HTTP/1.1 gateway
//!   ([`dataplane_api::gateway`]), which makes the first gRPC call.
//!
//! The function server ([`function`]) is transport-agnostic about where its peers are: it is
//! given one address per callee, so the Knative model can point those at its ingress instead.

pub mod function;
pub mod gateway;
mod grpc;

pub use grpc::Grpc;

/// Generated protobuf and gRPC code for `proto/chain.proto`.
pub mod proto {
    tonic::include_proto!("spright.chain.v1");
}

use workloads::State;

impl From<State> for proto::State {
    fn from(s: State) -> Self {
        proto::State { digest: s.digest, visits: s.visits, route: s.route as u32 }
    }
}

impl From<proto::State> for State {
    fn from(s: proto::State) -> Self {
        State { digest: s.digest, visits: s.visits, route: s.route as u16, _reserved: 0 }
    }
}

/// Largest gRPC message for a chain: the body limit plus room for the header fields.
pub fn max_message(chain: &workloads::Chain) -> usize {
    chain.max_body_bytes + 4096
}
