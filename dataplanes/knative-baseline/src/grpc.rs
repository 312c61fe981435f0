//! Backend `grpc`: direct gRPC between function processes.

use crate::function::FunctionArgs;
use crate::gateway::GatewayArgs;
use crate::BoxError;
use clap::Parser;
use dataplane_api::component;
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::{
    stage_chain, ComponentSpec, Dataplane, DeployEnv, DeployError, Deployment, Endpoint, ProcessDeployment, Role,
    Supervisor,
};
use workloads::Chain;

pub struct Grpc;

#[derive(Parser)]
#[command(name = "component grpc", about = "A process of the grpc backend (started by `spright-bench run`)")]
enum Cmd {
    /// HTTP/1.1 entry point that invokes each route's first function over gRPC.
    Gateway(GatewayArgs),
    /// One chain function serving gRPC.
    Function(FunctionArgs),
}

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
            let (l, addr) = loopback_listener()?;
            peer_args.push(format!("--peer={}={addr}", f.id));
            listeners.push((f, l));
        }
        let chain_arg = format!("--chain={}", spec.display());
        for (f, l) in listeners {
            let mut c = ComponentSpec::new(format!("fn-{}-{}", f.id, f.name), Role::Function)
                .function(f.id, &f.name)
                .arg("function")
                .arg(&chain_arg)
                .arg(format!("--id={}", f.id))
                .fd(l);
            c.args.extend(peer_args.iter().cloned());
            sup.start(c)?;
        }
        let (l, addr) = loopback_listener()?;
        let mut g = ComponentSpec::new("gateway", Role::Gateway).arg("gateway").arg(&chain_arg).fd(l);
        g.args.extend(peer_args);
        sup.start(g)?;
        Ok(Box::new(ProcessDeployment { supervisor: sup, endpoint: Endpoint { addr, host: None } }))
    }

    fn component_main(&self, args: Vec<String>) -> Result<(), BoxError> {
        component::init_logging();
        let cmd = Cmd::try_parse_from(std::iter::once("component grpc".to_string()).chain(args))?;
        match cmd {
            Cmd::Gateway(args) => crate::gateway::main(args),
            Cmd::Function(args) => crate::function::main(args),
        }
    }
}
