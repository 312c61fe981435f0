//! Backend `grpc`: direct gRPC between function processes.

use crate::function::{FunctionService, Peers};
use crate::gateway::GrpcDispatch;
use crate::max_message;
use clap::Parser;
use dataplane_api::component::{self, parse_peer};
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::{
    stage_chain, ComponentSpec, Dataplane, DeployEnv, DeployError, Deployment, Endpoint, ProcessDeployment, Role,
    Supervisor,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use workloads::{Chain, FnId};

pub struct Grpc;

#[derive(Parser)]
#[command(name = "component grpc", about = "A process of the grpc backend (started by `spright-bench run`)")]
enum Cmd {
    /// HTTP/1.1 entry point that invokes each route's first function over gRPC.
    Gateway {
        #[arg(long)]
        chain: PathBuf,
        /// A function's gRPC address, `ID=HOST:PORT`; repeat for every function.
        #[arg(long = "peer", value_parser = parse_peer)]
        peers: Vec<(FnId, String)>,
        /// Answer 504 when the chain has not replied within this many milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// One chain function serving gRPC.
    Function {
        #[arg(long)]
        chain: PathBuf,
        #[arg(long)]
        id: FnId,
        #[arg(long = "peer", value_parser = parse_peer)]
        peers: Vec<(FnId, String)>,
    },
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Dataplane for Grpc {
    fn name(&self) -> &'static str {
        "grpc"
    }

    fn label(&self) -> &'static str {
        "direct gRPC (tonic, h2c) between function processes, protobuf on every hop"
    }

    fn deploy(&self, chain: &Chain, env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError> {
        let spec = stage_chain(chain, env)?;
        let mut sup = Supervisor::new(env, self.name())?;
        let mut listeners = Vec::new();
        let mut peer_args = Vec::new();
        for f in &chain.functions {
            let l = loopback_listener()?;
            let addr = l.local_addr().map_err(DeployError::io("listener address"))?;
            peer_args.push(format!("--peer={}={addr}", f.id));
            listeners.push((f, l));
        }
        let chain_arg = format!("--chain={}", spec.display());
        for (f, l) in listeners {
            let mut c = ComponentSpec::new(format!("fn-{}-{}", f.id, f.name), Role::Function)
                .arg("function")
                .arg(&chain_arg)
                .arg(format!("--id={}", f.id))
                .fd(l);
            c.args.extend(peer_args.iter().cloned());
            sup.start(c)?;
        }
        let l = loopback_listener()?;
        let addr = l.local_addr().map_err(DeployError::io("listener address"))?;
        let mut g = ComponentSpec::new("gateway", Role::Gateway)
            .arg("gateway")
            .arg(&chain_arg)
            .arg(format!("--timeout-ms={}", chain.gateway_timeout_ms))
            .fd(l);
        g.args.extend(peer_args);
        sup.start(g)?;
        Ok(Box::new(ProcessDeployment { supervisor: sup, endpoint: Endpoint { addr, host: None } }))
    }

    fn component_main(&self, args: Vec<String>) -> Result<(), BoxError> {
        component::init_logging();
        let cmd = Cmd::try_parse_from(std::iter::once("component grpc".to_string()).chain(args))?;
        match cmd {
            Cmd::Gateway { chain, peers, timeout_ms } => {
                let chain = Arc::new(workloads::load_chain(&chain)?);
                component::set_process_name("sb-gateway");
                let listener = component::take_listener()?;
                let rt = component::runtime(1)?;
                rt.block_on(async move {
                    let peers = Peers::new(&peers, max_message(&chain))?;
                    let dispatch = Arc::new(GrpcDispatch { peers, timeout: Duration::from_millis(timeout_ms) });
                    component::signal_ready("");
                    dataplane_api::gateway::serve(listener, chain, dispatch).await?;
                    Ok::<_, BoxError>(())
                })
            }
            Cmd::Function { chain, id, peers } => {
                let chain = Arc::new(workloads::load_chain(&chain)?);
                let workers =
                    chain.function(id).ok_or_else(|| format!("chain {} has no function {id}", chain.name))?.workers;
                component::set_process_name(&format!("sb-fn-{id}"));
                let listener = component::take_listener()?;
                let rt = component::runtime(workers as usize)?;
                rt.block_on(async move {
                    let max = max_message(&chain);
                    let peers = Peers::new(&peers, max)?;
                    let svc = FunctionService::new(chain, id, peers).ok_or("unknown function")?;
                    // Accepted sockets need TCP_NODELAY themselves: the builder's option only
                    // applies to listeners tonic binds, and Nagle + delayed ACK would add 40 ms.
                    let incoming =
                        tonic::transport::server::TcpIncoming::from(tokio::net::TcpListener::from_std(listener)?)
                            .with_nodelay(Some(true));
                    component::signal_ready("");
                    tonic::transport::Server::builder()
                        .add_service(svc.into_server(max))
                        .serve_with_incoming(incoming)
                        .await?;
                    Ok::<_, BoxError>(())
                })
            }
        }
    }
}
