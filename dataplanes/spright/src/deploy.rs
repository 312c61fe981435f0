//! The driver side of every SPRIGHT backend: [`Spright`] turns a [`Backend`] into a
//! [`Dataplane`]. A deployment is the chain's pool (a hugetlbfs file, unless the transport keeps
//! its slots itself), the backend's host state, and one process per function plus the gateway,
//! each started with the same command line shape; teardown reaps the processes first, then
//! undoes the host state, then unlinks the pool.

use crate::{Backend, BoxError, Host, Who};
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::{
    now_ns, stage_chain, Activation, Admission, BackendOptions, Component, ComponentSpec, Counter, Dataplane,
    DeployEnv, DeployError, Deployment, Endpoint, Exit, OptionSpec, Role, Supervisor,
};
use shm::Pool;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};
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

    /// The chain's routes where relays replace the functions ([`crate::relay::successors`]),
    /// then the transport's own refusals.
    fn check(&self, chain: &Chain, options: &BackendOptions) -> Result<(), DeployError> {
        if options.is(B::OPTIONS, &crate::relay::RUNTIME, "relay") {
            crate::relay::successors(chain).map_err(DeployError::Unsupported)?;
        }
        self.0.check(chain, options)
    }

    /// A slot of the chain's pool per request in flight ([`crate::protocol::admit`]).
    fn admits_at_once(&self, chain: &Chain) -> Option<Admission> {
        Some(Admission { most: chain.pool_slots, held: "pool slots", raise: "raise pool_slots in the chain's file" })
    }

    fn deploy(&self, chain: &Chain, env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError> {
        self.check(chain, &env.options)?;
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
    let relay = env.options.is(B::OPTIONS, &crate::relay::RUNTIME, "relay");
    let spec = stage_chain(chain, env)?;
    let chain_id = next_chain_id();
    let host = b.setup(chain, chain_id, env)?;
    let gateway_threads = crate::gateway::threads(env, B::OPTIONS, B::GATEWAY_POLLS);
    let by_lane = env.options.is(B::OPTIONS, &crate::gateway::CPUS, "by-lane");
    let (pool, pool_arg) = match host.own_pool() {
        Some(name) => (None, name),
        None => {
            // A free list per gateway lane when each lane has an event loop of its own.
            let stripes = if by_lane { gateway_threads as u32 } else { 1 };
            let (pool, path) = shm::create_chain_pool(chain, &format!("{}{chain_id}", B::NAME), stripes)
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
        common: vec![
            format!("--chain={}", spec.display()),
            format!("--pool={pool_arg}"),
            format!("--chain-id={chain_id}"),
        ],
        functions: chain.functions.iter().map(|f| (f.id, f.name.clone())).collect(),
        parked: Vec::new(),
        gateway: vec![format!("--threads={gateway_threads}")],
        function: if relay { vec!["--relay".into()] } else { Vec::new() },
        gateway_threads,
    };
    if by_lane {
        dep.gateway.push("--by-lane".into());
    }
    if env.options.is(B::OPTIONS, &crate::gateway::SEND, "batch") {
        dep.gateway.push("--send-batch".into());
    }
    // The gateway first: a transport may create there what functions attach to (DPDK's rings).
    let place = dep.place(Who::Gateway, "gateway")?;
    dep.start(Who::Gateway, "gateway", Some(listener.into()), place)?;
    for f in &chain.functions {
        let name = component_name(f.id, &f.name);
        let place = dep.place(Who::Function(f.id), &name)?;
        dep.start(Who::Function(f.id), &name, None, place)?;
    }
    Ok(dep)
}

fn component_name(id: workloads::FnId, name: &str) -> String {
    format!("fn-{id}-{name}")
}

/// A function's place in the transport: the descriptors and arguments its process gets.
type Place = (Vec<OwnedFd>, Vec<String>);

/// A function whose process is stopped while its place in the transport waits for it.
struct Parked {
    who: Who,
    name: String,
    place: Place,
}

/// Fields in teardown order; [`SprightDeployment::stop`] and `Drop` follow it explicitly.
struct SprightDeployment<H: Host> {
    supervisor: Supervisor,
    parked: Vec<Parked>,
    host: Option<H>,
    pool: Option<Pool>,
    endpoint: Endpoint,
    /// Arguments every component gets.
    common: Vec<String>,
    /// (id, name) of the chain's functions.
    functions: Vec<(workloads::FnId, String)>,
    /// The gateway's HTTP threads (option `gateway-threads`, resolved).
    gateway_threads: usize,
    /// Arguments of the gateway alone.
    gateway: Vec<String>,
    /// Arguments of every function alone.
    function: Vec<String>,
}

impl<H: Host> SprightDeployment<H> {
    /// Make `who`'s place in the transport (before its process starts).
    fn place(&mut self, who: Who, name: &str) -> Result<Place, DeployError> {
        self.host.as_mut().expect("deployed").component(who, name)
    }

    /// Start `who`'s process; returns when it was ready ([`Supervisor::start`]).
    fn start(&mut self, who: Who, name: &str, listener: Option<OwnedFd>, place: Place) -> Result<u64, DeployError> {
        let (role, part) = match who {
            Who::Gateway => (Role::Gateway, [vec!["gateway".to_string()], self.gateway.clone()].concat()),
            Who::Function(id) => {
                (Role::Function, [vec!["function".to_string(), format!("--id={id}")], self.function.clone()].concat())
            }
        };
        let (fds, args) = place;
        let mut spec = ComponentSpec::new(name, role).args(part).args(self.common.iter().cloned()).args(args);
        if let Who::Function(id) = who {
            spec.function = self.functions.iter().find(|(i, _)| *i == id).map(|(i, n)| (*i, n.clone()));
        }
        spec.fds.extend(listener);
        spec.fds.extend(fds);
        self.supervisor.start(spec)
    }

    fn function(&self, function: &str) -> Result<(Who, String), DeployError> {
        let (id, name) = self.functions.iter().find(|(_, n)| n == function).ok_or_else(|| {
            let names: Vec<&str> = self.functions.iter().map(|(_, n)| n.as_str()).collect();
            DeployError::Unsupported(format!("the chain has no function {function:?} (it has {})", names.join(", ")))
        })?;
        Ok((Who::Function(*id), component_name(*id, name)))
    }

    /// Reap the processes, then undo the host state, then unlink the pool.
    fn stop(&mut self) -> Vec<Exit> {
        let exits = self.supervisor.stop();
        self.parked.clear();
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
        out.push(Counter {
            component: "gateway".into(),
            name: "http_threads".into(),
            value: self.gateway_threads as u64,
        });
        if let Some(p) = &self.pool {
            let pool = |name: &str, value| Counter { component: "pool".into(), name: name.into(), value };
            out.push(pool("bad_descriptors", p.bad_descriptors()));
            out.push(pool("free_slots", p.free_count() as u64));
            out.push(pool("slots", p.slots() as u64));
            // Reserved hugepage memory (what smaps shows is only the pages touched so far).
            out.push(pool("bytes", p.slots() as u64 * p.slot_size() as u64));
            if p.stripes() > 1 {
                // A free list per gateway lane: how often a lane had to use another lane's slot.
                for lane in 0..p.stripes() {
                    out.push(pool(&format!("lane{lane}_borrowed_slots"), p.borrowed(lane)));
                }
            }
        }
        out
    }

    fn placement(&self) -> String {
        self.host.as_ref().and_then(H::placement).unwrap_or_else(|| dataplane_api::UNPINNED.into())
    }

    fn park(&mut self, function: &str) -> Result<Duration, DeployError> {
        let (who, name) = self.function(function)?;
        if self.host.as_ref().and_then(H::mailbox).is_none() {
            return Err(DeployError::Unsupported(
                "this transport cannot tell when a request waits for a stopped function".into(),
            ));
        }
        if self.parked.iter().any(|p| p.name == name) {
            return Err(DeployError::Unsupported(format!("{function} is parked already")));
        }
        self.supervisor
            .stop_one(&name)
            .ok_or_else(|| DeployError::Unsupported(format!("{function} has no running process")))?;
        let t = Instant::now();
        let place = self.place(who, &name)?;
        let took = t.elapsed();
        self.parked.push(Parked { who, name, place });
        Ok(took)
    }

    fn start_parked(&mut self, function: &str, timeout: Duration) -> Result<Activation, DeployError> {
        let (_, name) = self.function(function)?;
        let i = self
            .parked
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| DeployError::Unsupported(format!("{function} is not parked")))?;
        let mailbox = self.host.as_ref().and_then(H::mailbox).expect("checked by park");
        let mut fds: Vec<libc::pollfd> = self.parked[i].place.0[mailbox..]
            .iter()
            .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: valid pollfds for the duration of the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            let e = match n {
                0 => std::io::Error::new(std::io::ErrorKind::TimedOut, format!("none within {timeout:?}")),
                _ => std::io::Error::last_os_error(),
            };
            return Err(DeployError::io(format!("wait for a request for parked {function}"))(e));
        }
        let p = self.parked.remove(i);
        let spawn = now_ns();
        let ready = self.start(p.who, &p.name, None, p.place)?;
        Ok(Activation { spawn, process_ready: ready, proxy_ready: ready })
    }

    fn teardown(mut self: Box<Self>) -> Vec<Exit> {
        self.stop()
    }
}
