//! The HTTP -> gRPC gateway of the RPC baselines: admits a request on a route and invokes the
//! route's first function.

use crate::function::Peers;
use crate::proto::Invocation;
use bytes::Bytes;
use dataplane_api::gateway::{Dispatch, GatewayError};
use std::time::Duration;
use workloads::{render_reply, Route, State};

pub struct GrpcDispatch {
    pub peers: Peers,
    pub timeout: Duration,
}

impl Dispatch for GrpcDispatch {
    async fn dispatch(&self, route: &Route, body: Bytes) -> Result<Vec<u8>, GatewayError> {
        let inv = Invocation {
            route: route.id as u32,
            node: 0,
            state: Some(State::new(route.id).into()),
            body: body.to_vec(),
        };
        let call = self.peers.invoke(route.node(0).func, inv);
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(GatewayError::Timeout(self.timeout.as_millis() as u64)),
            Ok(Err(status)) => Err(GatewayError::Upstream(format!("{}: {}", status.code(), status.message()))),
            Ok(Ok(out)) => Ok(render_reply(&out.state.unwrap_or_default().into(), &out.body)),
        }
    }
}
