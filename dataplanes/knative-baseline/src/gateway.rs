//! The HTTP -> gRPC gateway of the RPC baselines: admits a request on a route and invokes the
//! route's first function.

use crate::function::Peers;
use crate::proto::Invocation;
use bytes::Bytes;
use dataplane_api::gateway::{Dispatch, GatewayError};
use std::time::Duration;
use workloads::{render_reply, Reply, Route, RouteKind, State};

use crate::function::NetArgs;
use crate::BoxError;
use dataplane_api::component::{self, parse_peer};
use std::path::PathBuf;
use std::sync::Arc;
use workloads::FnId;

/// Command line of the HTTP -> gRPC gateway process (backends `grpc` and `knative`).
#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    #[arg(long)]
    pub chain: PathBuf,
    /// A function's gRPC address, `ID=HOST:PORT`; repeat for every route's first function.
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<(u16, String)>,
    /// Drive pipeline routes as a proxy: call each function in turn and hand its result to the
    /// next (how the paper drove its motion and parking chains on Knative), instead of letting
    /// each function call the next.
    #[arg(long)]
    pub proxy_pipelines: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Run the gateway until it is killed.
pub fn main(args: GatewayArgs) -> Result<(), BoxError> {
    let chain = Arc::new(workloads::load_staged_chain(&args.chain)?);
    component::set_process_name("sb-gateway");
    let listener = args.net.listener()?;
    let rt = component::runtime(1)?;
    rt.block_on(async move {
        let peers: Vec<(FnId, String)> = args.peers;
        let peers = Peers::new(&peers, args.net.via.as_deref(), crate::max_message(&chain))?;
        // 504 when the chain has not replied within the spec's gateway_timeout_ms.
        let dispatch = Arc::new(GrpcDispatch {
            peers,
            timeout: Duration::from_millis(chain.gateway_timeout_ms),
            proxy_pipelines: args.proxy_pipelines,
        });
        component::signal_ready();
        dataplane_api::gateway::serve(listener, chain, dispatch).await?;
        Ok(())
    })
}

pub struct GrpcDispatch {
    pub peers: Peers,
    pub timeout: Duration,
    pub proxy_pipelines: bool,
}

impl GrpcDispatch {
    /// Run `inv` through its route: one call to the first function, or, for a pipeline driven
    /// as a proxy, one call per function, each result handed to the next.
    async fn call(&self, route: &Route, mut inv: Invocation) -> Result<Invocation, tonic::Status> {
        if !(self.proxy_pipelines && route.kind == RouteKind::Pipeline) {
            return self.peers.invoke(route.node(0).func, inv).await;
        }
        inv.single = true;
        for node in 0..route.nodes.len() as u16 {
            inv.node = node as u32;
            inv = self.peers.invoke(route.node(node).func, inv).await?;
            if inv.state.as_ref().is_some_and(|s| s.status != 0) {
                break;
            }
        }
        Ok(inv)
    }
}

impl Dispatch for GrpcDispatch {
    async fn dispatch(&self, route: &Route, state: State, body: Bytes) -> Result<Reply, GatewayError> {
        let inv = Invocation {
            route: route.id as u32,
            node: 0,
            state: Some(state.into()),
            body: body.to_vec(),
            single: false,
        };
        let call = self.call(route, inv);
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(GatewayError::Timeout(self.timeout.as_millis() as u64)),
            Ok(Err(status)) => Err(GatewayError::Upstream(format!("{}: {}", status.code(), status.message()))),
            Ok(Ok(out)) => Ok(render_reply(&out.state.unwrap_or_default().into(), &out.body)),
        }
    }
}
