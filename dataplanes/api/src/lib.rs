//! What every dataplane backend implements and shares.
//!
//! - [`Dataplane`]: the small trait the harness drives (deploy a chain, get an endpoint and the
//!   component processes, tear down). Backends live in their own crates and are registered in
//!   the harness; nothing else in the driver knows about them.
//! - [`supervisor`]: starting component processes with pre-bound listening sockets (socket
//!   activation, so there are no port races and no start-order sleeps), waiting for their
//!   readiness line, and killing and reaping every one of them on teardown or drop.
//! - [`gateway`]: the client-facing HTTP/1.1 entry point (`POST /<route>`), identical for every
//!   backend so that only the transport behind it differs.
//! - [`component`]: the helpers a component process uses (its listener, readiness, logging).
//! - [`options`]: backend options as data (`--backend-opt key=value`), declared by each backend.
//! - [`placement`]: which CPUs each process runs on (`--placement`), applied by the supervisor.

pub mod component;
pub mod gateway;
pub mod options;
pub mod placement;
pub mod supervisor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use workloads::Chain;

pub use options::{BackendOptions, Invalid, OptionError, OptionSpec, Values};
pub use placement::{Placement, PlacementError, Slot};
pub use supervisor::{ComponentSpec, Supervisor};

/// What a component process does, for CPU accounting and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Gateway,
    Function,
    /// A per-function proxy (Knative's queue-proxy).
    Sidecar,
    Ingress,
    Activator,
    /// The driver's load generator: reported separately, never counted as the system's CPU.
    LoadGenerator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Function => "function",
            Role::Sidecar => "sidecar",
            Role::Ingress => "ingress",
            Role::Activator => "activator",
            Role::LoadGenerator => "loadgen",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One running process of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    pub pid: u32,
    pub role: Role,
    pub name: String,
}

/// Where clients send requests.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// `Host` header to send (ingress routing), if the endpoint needs one.
    pub host: Option<String>,
}

/// A named counter a dataplane exposes (eBPF per-function messages, proxy request counts...).
#[derive(Debug, Clone, PartialEq)]
pub struct Counter {
    pub component: String,
    pub name: String,
    pub value: u64,
}

/// One request that had to wait for a function instance to be started (a cold start), broken
/// into consecutive phases that add up to `total_us`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColdStart {
    /// The service (function) that was started.
    pub service: String,
    /// When the request reached the component that made it wait ([`now_ns`] clock).
    pub arrived_ns: u64,
    /// Until the instance's process was spawned (deciding to scale, asking for it).
    pub scheduling_us: f64,
    /// From spawn until the function process said it serves.
    pub process_start_us: f64,
    /// Until the instance passed its readiness probe (its proxy started and probed it).
    pub readiness_us: f64,
    /// Until the request could be routed to the instance.
    pub routing_us: f64,
    /// Until the response came back through the instance.
    pub forwarding_us: f64,
    pub total_us: f64,
}

/// The timestamps ([`now_ns`]) of one scale from zero.
#[derive(Debug, Clone, Copy)]
pub struct Activation {
    pub spawn: u64,
    /// The function process said it serves.
    pub process_ready: u64,
    /// It passed its readiness check (Knative: its queue-proxy started and probed it; a backend
    /// without a probe: the same as `process_ready`).
    pub proxy_ready: u64,
}

/// The phases of a request that arrived at `arrived`, waited for activation `a`, could be
/// routed at `routable` and was answered at `done`. A phase that ended before the request
/// arrived (it came while the instance was already starting) counts as zero.
pub fn cold_start(service: &str, a: &Activation, arrived: u64, routable: u64, done: u64) -> ColdStart {
    let at = |t: u64| t.max(arrived);
    let (b1, b2, b3, b4) = (at(a.spawn), at(a.process_ready), at(a.proxy_ready), at(routable));
    let us = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e3;
    ColdStart {
        service: service.to_string(),
        arrived_ns: arrived,
        scheduling_us: us(arrived, b1),
        process_start_us: us(b1, b2),
        readiness_us: us(b2, b3),
        routing_us: us(b3, b4),
        forwarding_us: us(b4, done),
        total_us: us(arrived, done),
    }
}

/// Everything a backend needs from the driver to start processes.
#[derive(Debug, Clone)]
pub struct DeployEnv {
    /// The multi-call binary that runs components (`<exe> component <backend> ...`).
    pub exe: PathBuf,
    /// Each component's stdout/stderr go to `<log_dir>/<name>.log`.
    pub log_dir: PathBuf,
    /// How long a component may take to report ready.
    pub ready_timeout: Duration,
    /// The backend's options, validated against [`Dataplane::options`].
    pub options: BackendOptions,
    /// Where each process runs; the supervisor applies it to every process it starts.
    pub placement: Placement,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("cannot start component {name}: {source}")]
    Spawn { name: String, source: std::io::Error },
    #[error("component {name} exited before it was ready ({status}); last log lines:\n{log_tail}")]
    DiedEarly { name: String, status: String, log_tail: String },
    #[error("component {name} did not report ready within {timeout:?}; last log lines:\n{log_tail}")]
    NotReady { name: String, timeout: Duration, log_tail: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    /// Host state the backend needs could not be set up (a pool, an eBPF program, a socket-map
    /// entry, a route in a proxy).
    #[error("{what}: {source}")]
    Host { what: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error(transparent)]
    Options(#[from] OptionError),
    /// A system deployed elsewhere (a real cluster) does not serve the chain, and why.
    #[error("{0}")]
    NotServing(String),
    /// The backend cannot run with this machine or configuration, and why.
    #[error("{0}")]
    Unsupported(String),
}

impl DeployError {
    /// For `map_err`: an I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DeployError {
        let what = what.into();
        move |source| DeployError::Io { what, source }
    }

    /// For `map_err`: setting up host state (`what`) failed.
    pub fn host<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
        what: impl Into<String>,
    ) -> impl FnOnce(E) -> DeployError {
        let what = what.into();
        move |e| DeployError::Host { what, source: e.into() }
    }
}

/// How a component ended, reported after teardown.
#[derive(Debug, Clone)]
pub struct Exit {
    pub component: Component,
    /// `None` if the process had to be killed by teardown (it was still running: the normal case).
    pub status: Option<String>,
    /// True if the process died on its own before teardown (a crash or a kill from outside).
    pub died_during_run: bool,
}

/// A dataplane backend. Small on purpose: deploy and (on the deployment) teardown; optional
/// capabilities have defaults.
pub trait Dataplane: Send + Sync {
    /// Name used with `--backend`.
    fn name(&self) -> &'static str;
    /// What this backend is, printed in every output (e.g. "local model of Knative's data path").
    fn label(&self) -> &'static str;
    /// The options it accepts (`--backend-opt key=value`); the driver validates them before
    /// [`Dataplane::deploy`] and passes them in [`DeployEnv::options`].
    fn options(&self) -> &'static [OptionSpec] {
        &[]
    }
    /// Whether it can deploy `chain` with `options` (validated against [`Dataplane::options`]),
    /// decided without starting or touching anything: the refusals that depend on the chain or
    /// on several options together, so that a plan of many runs (`reproduce`) fails before its
    /// first run rather than at the step that needs the combination. [`Dataplane::deploy`]
    /// refuses the same.
    fn check(&self, chain: &Chain, options: &BackendOptions) -> Result<(), DeployError> {
        let _ = (chain, options);
        Ok(())
    }
    /// The most requests of `chain` it admits at once, where it has such a bound (SPRIGHT: a
    /// pool slot per request); a request beyond it is refused (`503`). The sweep never checks
    /// its load generator's pool beyond it: more connections could only turn a wait in the
    /// client into a refusal.
    fn admits_at_once(&self, chain: &Chain) -> Option<Admission> {
        let _ = chain;
        None
    }
    /// Start every process of `chain` and return once all of them are ready.
    fn deploy(&self, chain: &Chain, env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError>;
    /// Entry point of this backend's component processes (`<exe> component <name> <args>`).
    fn component_main(&self, args: Vec<String>) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// A backend's bound on the requests of a chain in flight at once ([`Dataplane::admits_at_once`]),
/// with the words the driver's warnings and summaries use for it, so that a backend with
/// another kind of bound is described in its own terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The most requests in flight at once.
    pub most: u32,
    /// What each request in flight holds, in the plural ("pool slots").
    pub held: &'static str,
    /// How a user raises the bound ("raise pool_slots in the chain's file").
    pub raise: &'static str,
}

/// A deployed chain.
pub trait Deployment: Send {
    fn endpoint(&self) -> Endpoint;
    /// The processes of the system under test (pid, role, name), for CPU accounting. May change
    /// during a run (scaling); the driver reads it again while it runs.
    fn components(&self) -> Vec<Component>;
    /// Dataplane counters, read at the end of a run.
    fn counters(&self) -> Vec<Counter> {
        Vec::new()
    }
    /// What the backend itself decides about where and how its components run (polling mode,
    /// where slots live), beside the driver's `--placement`; recorded in the run's manifest.
    fn placement(&self) -> String {
        UNPINNED.into()
    }
    /// Requests that waited for an instance to start (backends that scale to zero).
    fn cold_starts(&self) -> Vec<ColdStart> {
        Vec::new()
    }
    /// Wake every function up now, as the paper's Knative client did before its bursts, and
    /// return once each has an instance ready; `Ok(false)` where nothing ever sleeps.
    fn prewarm(&self) -> Result<bool, DeployError> {
        Ok(false)
    }
    /// Stop `function`'s process but keep its place in the chain, so that a request for it
    /// waits instead of failing (S-SPRIGHT: a fresh socket for it in the socket map, where
    /// descriptors queue). Returns how long making that place took. Backends that cannot say
    /// why ([`DeployError::Unsupported`]).
    fn park(&mut self, function: &str) -> Result<Duration, DeployError> {
        let _ = function;
        Err(cannot_park())
    }
    /// Wait, at most `timeout`, until a request waits for the parked `function`, then start its
    /// process and return once it serves: the timestamps of that cold start.
    fn start_parked(&mut self, function: &str, timeout: Duration) -> Result<Activation, DeployError> {
        let _ = (function, timeout);
        Err(cannot_park())
    }
    /// Why the driver cannot measure the system's CPU, if it cannot (it runs elsewhere).
    fn cpu_unavailable(&self) -> Option<String> {
        None
    }
    /// Kill and reap every process, undo host state, and say how each component ended.
    fn teardown(self: Box<Self>) -> Vec<Exit>;
}

/// What [`Deployment::park`] and [`Deployment::start_parked`] answer where a backend has neither.
fn cannot_park() -> DeployError {
    DeployError::Unsupported("this backend cannot park a function (start it on demand)".into())
}

/// [`Deployment::placement`] of a backend that decides nothing about placement itself.
pub const UNPINNED: &str = "no placement of its own (only --placement applies)";

/// The common case: a deployment that is a set of supervised processes and an endpoint.
pub struct ProcessDeployment {
    pub supervisor: Supervisor,
    pub endpoint: Endpoint,
}

impl Deployment for ProcessDeployment {
    fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }
    fn components(&self) -> Vec<Component> {
        self.supervisor.components()
    }
    fn teardown(self: Box<Self>) -> Vec<Exit> {
        self.supervisor.shutdown()
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for the driver and every component on the host,
/// so timestamps taken in different processes can be subtracted.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Write the chain's spec text where its components can read it (`<log_dir>/chain.toml`), so
/// every process of a deployment sees exactly the spec the driver validated.
pub fn stage_chain(chain: &Chain, env: &DeployEnv) -> Result<PathBuf, DeployError> {
    let path = env.log_dir.join("chain.toml");
    std::fs::create_dir_all(&env.log_dir)
        .and_then(|_| std::fs::write(&path, &chain.spec_text))
        .map_err(|source| DeployError::Io { what: format!("write {}", path.display()), source })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cold_start_phases_from_timestamps() {
        let a = Activation { spawn: 1_000_000, process_ready: 5_000_000, proxy_ready: 9_000_000 };
        let c = cold_start("svc", &a, 700_000, 9_500_000, 20_000_000);
        assert_eq!(
            (c.scheduling_us, c.process_start_us, c.readiness_us, c.routing_us, c.forwarding_us, c.total_us),
            (300.0, 4000.0, 4000.0, 500.0, 10_500.0, 19_300.0)
        );
        // Arrived while the process was starting: no scheduling, part of process start.
        let c = cold_start("svc", &a, 3_000_000, 9_500_000, 20_000_000);
        assert_eq!((c.scheduling_us, c.process_start_us, c.readiness_us), (0.0, 2000.0, 4000.0));
        assert_eq!(c.total_us, 17_000.0);
    }
}
