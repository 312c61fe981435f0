//! The driver side of every SPRIGHT backend: [`Spright`] turns a [`Backend`] into a
//! [`Dataplane`]. A deployment is the chain's pool (a hugetlbfs file, unless the transport keeps
//! its slots itself), the backend's host state, and one process per function plus the gateway,
//! each started with the same command line shape; teardown reaps the processes first, then
//! undoes the host state, then unlinks the pool.

use crate::{Backend, BoxError, Host, Who};
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::{
    stage_chain, Component, ComponentSpec, Counter, Dataplane, DeployEnv, DeployError, Deployment, Endpoint, Exit,
    OptionSpec, Role, Supervisor,
};
use shm::Pool;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU16, Ordering};
use workloads::Chain;

/// A SPRIGHT backend as the driver sees it.
pub struct Spright<B>(pub B);

impl<B: Backend> Dataplane for Spright<B> {
    fn name(&self) -> &'static str {
        B::NAME
    }

    fn label(&self) -> &'static str {
        B::LABEL
    }

    fn options(&self) -> &'static [OptionSpec] {
        B::OPTIONS
    }

    fn deploy(&self, chain: &Chain, env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError> {
        Ok(Box::new(deploy(&self.0, chain, env)?))
    }

    fn component_main(&self, args: Vec<String>) -> Result<(), BoxError> {
        crate::component::main(&self.0, args)
    }
}

/// A chain id no other chain of this driver process uses (never 0), whatever its backend: the
/// upper half of its processes' keys, so chains are security domains in any shared transport.
fn next_chain_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(1);
    loop {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

fn deploy<B: Backend>(b: &B, chain: &Chain, env: &DeployEnv) -> Result<SprightDeployment<B::Host>, DeployError> {
    let spec = stage_chain(chain, env)?;
    let chain_id = next_chain_id();
    let host = b.setup(chain, chain_id, env)?;
    let (pool, pool_arg) = match host.own_pool() {
        Some(name) => (None, name),
        None => {
            let (pool, path) = shm::create_chain_pool(chain, &format!("{}{chain_id}", B::NAME))
                .map_err(DeployError::host("create the chain's pool"))?;
            (Some(pool), path.display().to_string())
        }
    };
    let (listener, addr) = loopback_listener()?;
    let mut dep = SprightDeployment {
        supervisor: Supervisor::new(env, B::NAME)?,
        host: Some(host),
        pool,
        endpoint: Endpoint { addr, host: None },
    };
    let common =
        [format!("--chain={}", spec.display()), format!("--pool={pool_arg}"), format!("--chain-id={chain_id}")];
    // The gateway first: a transport may create there what functions attach to (DPDK's rings).
    dep.start(Who::Gateway, "gateway", Some(listener.into()), &common)?;
    for f in &chain.functions {
        dep.start(Who::Function(f.id), &format!("fn-{}-{}", f.id, f.name), None, &common)?;
    }
    Ok(dep)
}

/// Fields in teardown order; [`SprightDeployment::stop`] and `Drop` follow it explicitly.
struct SprightDeployment<H: Host> {
    supervisor: Supervisor,
    host: Option<H>,
    pool: Option<Pool>,
    endpoint: Endpoint,
}

impl<H: Host> SprightDeployment<H> {
    fn start(&mut self, who: Who, name: &str, listener: Option<OwnedFd>, common: &[String]) -> Result<(), DeployError> {
        let (role, part) = match who {
            Who::Gateway => (Role::Gateway, vec!["gateway".to_string()]),
            Who::Function(id) => (Role::Function, vec!["function".to_string(), format!("--id={id}")]),
        };
        let (fds, args) = self.host.as_mut().expect("deployed").component(who, name)?;
        let mut spec = ComponentSpec::new(name, role).args(part).args(common.iter().cloned()).args(args);
        spec.fds.extend(listener);
        spec.fds.extend(fds);
        self.supervisor.start(spec)?;
        Ok(())
    }

    /// Reap the processes, then undo the host state, then unlink the pool.
    fn stop(&mut self) -> Vec<Exit> {
        let exits = self.supervisor.stop();
        self.host = None;
        self.pool = None;
        exits
    }
}

impl<H: Host> Drop for SprightDeployment<H> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl<H: Host> Deployment for SprightDeployment<H> {
    fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    fn components(&self) -> Vec<Component> {
        self.supervisor.components()
    }

    fn counters(&self) -> Vec<Counter> {
        let mut out = self.host.as_ref().map(H::counters).unwrap_or_default();
        if let Some(p) = &self.pool {
            let pool = |name: &str, value| Counter { component: "pool".into(), name: name.into(), value };
            out.push(pool("bad_descriptors", p.bad_descriptors()));
            out.push(pool("free_slots", p.free_count() as u64));
            out.push(pool("slots", p.slots() as u64));
            // Reserved hugepage memory (what smaps shows is only the pages touched so far).
            out.push(pool("bytes", p.slots() as u64 * p.slot_size() as u64));
        }
        out
    }

    fn placement(&self) -> String {
        self.host.as_ref().and_then(H::placement).unwrap_or_else(|| dataplane_api::UNPINNED.into())
    }

    fn teardown(mut self: Box<Self>) -> Vec<Exit> {
        self.stop()
    }
}
