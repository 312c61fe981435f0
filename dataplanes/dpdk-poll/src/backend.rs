//! Backend `d-spright`: deployment and the component processes.

use crate::dpdk::{eal_init, ring_name, Ring};
use crate::mempool::MempoolStore;
use bytes::Bytes;
use clap::Parser;
use dataplane_api::component;
use dataplane_api::gateway::{Dispatch, GatewayError, Waiters};
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::{
    stage_chain, Component, ComponentSpec, Dataplane, DeployEnv, DeployError, Deployment, Endpoint, Exit, Role,
    Supervisor,
};
use shm::{key, key_function, request, Descriptor, Pool};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;
use workloads::{Chain, FnId, Route};

/// Ring slots per function (a power of two, more than any pool has requests).
const RING_SIZE: u32 = 65_536;
/// DPDK's runtime directory for a file prefix is `RUNTIME_DIR/<prefix>`.
const RUNTIME_DIR: &str = "/var/run/dpdk";
const HUGE_DIR: &str = "/dev/hugepages";
/// Environment variable that sets the CPUs pollers may run on (a DPDK cpuset such as `1` or `0-1`).
pub const CPUS_ENV: &str = "SPRIGHT_DPDK_CPUS";
/// Environment variable that selects the polling mode: `busy` (default, the paper's) or `backoff`.
pub const POLL_ENV: &str = "SPRIGHT_DPDK_POLL";

/// Environment variable that selects where slots live: `shm` (default, the hugetlbfs pool
/// S-SPRIGHT uses) or `mempool` (a DPDK `rte_mempool`, as in the paper's D-SPRIGHT).
pub const POOL_ENV: &str = "SPRIGHT_DPDK_POOL";

/// Where D-SPRIGHT's slots live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolKind {
    /// The same hugetlbfs pool as S-SPRIGHT: only the transport differs between the two.
    Shm,
    /// A DPDK rte_mempool created by the primary.
    Mempool,
}

/// A backend option read from the environment: one of `T`'s names, the first when unset.
fn env_choice<T: clap::ValueEnum + Copy>(var: &str) -> Result<T, DeployError> {
    let Ok(v) = std::env::var(var) else { return Ok(T::value_variants()[0]) };
    T::from_str(&v, false).map_err(|_| {
        let names: Vec<String> = T::value_variants().iter().map(|x| choice_name(*x)).collect();
        DeployError::Unsupported(format!("{var}={v:?}: use {}", names.join(" or ")))
    })
}

/// The command-line name of an option value.
fn choice_name<T: clap::ValueEnum>(v: T) -> String {
    v.to_possible_value().map(|p| p.get_name().to_string()).unwrap_or_default()
}

/// How a poller waits when its ring is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PollMode {
    /// Spin without pause: a core per poller, the paper's D-SPRIGHT.
    Busy,
    /// After 1,000 empty polls, sleep 50 us between polls until work arrives: not the paper's
    /// design, an opt-in for small machines.
    Backoff,
}

impl PollMode {
    fn describe(self) -> &'static str {
        match self {
            PollMode::Busy => "pure busy polling",
            PollMode::Backoff => {
                "BACK-OFF polling (after 1,000 empty polls, sleep 50 us between polls; not the paper's D-SPRIGHT)"
            }
        }
    }
}

/// Waiting on an empty ring, per [`PollMode`].
struct Idle {
    mode: PollMode,
    empty: u32,
}

impl Idle {
    fn new(mode: PollMode) -> Self {
        Idle { mode, empty: 0 }
    }

    fn empty(&mut self) {
        match self.mode {
            PollMode::Busy => std::hint::spin_loop(),
            PollMode::Backoff => {
                // Spin through a short gap between requests; once idle, sleep between polls
                // until work arrives again.
                self.empty = self.empty.saturating_add(1);
                if self.empty > 1000 {
                    std::thread::sleep(Duration::from_micros(50));
                } else {
                    std::hint::spin_loop();
                }
            }
        }
    }

    fn busy(&mut self) {
        self.empty = 0;
    }
}

pub struct DSpright;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(name = "component d-spright", about = "A process of the d-spright backend (started by `spright-bench run`)")]
enum Cmd {
    /// DPDK primary: creates the rings, serves HTTP (fd 3), busy-polls the gateway ring.
    Gateway {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// DPDK secondary: busy-polls its function's ring.
    Function {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        id: FnId,
    },
}

#[derive(clap::Args)]
struct Common {
    #[arg(long)]
    chain: PathBuf,
    #[arg(long)]
    pool: PathBuf,
    #[arg(long)]
    chain_id: u16,
    /// DPDK file prefix of this deployment.
    #[arg(long)]
    prefix: String,
    /// CPUs the pollers may run on (DPDK cpuset syntax).
    #[arg(long)]
    cpus: String,
    /// How pollers wait on an empty ring.
    #[arg(long, value_enum, default_value = "busy")]
    poll: PollMode,
    /// Where slots live; with `mempool`, `--pool` is the mempool's name.
    #[arg(long, value_enum, default_value = "shm")]
    pool_kind: PoolKind,
    /// Bytes per slot (mempool only; the shm pool records its own).
    #[arg(long, default_value_t = 0)]
    slot_size: u32,
    /// Slots (mempool only).
    #[arg(long, default_value_t = 0)]
    slots: u32,
    /// Extra EAL arguments (for tests of EAL failures).
    #[arg(long = "eal-extra", allow_hyphen_values = true)]
    eal_extra: Vec<String>,
}

fn eal_args(role: &str, c: &Common, primary: bool) -> Vec<String> {
    let mut a = vec![
        format!("sb-{role}"),
        format!("--proc-type={}", if primary { "primary" } else { "secondary" }),
        format!("--file-prefix={}", c.prefix),
        "--no-pci".into(),
        "--no-telemetry".into(),
        "--iova-mode=va".into(),
        format!("--huge-dir={HUGE_DIR}"),
        format!("--lcores=0@({})", c.cpus),
        "--log-level=lib.eal:warning".into(),
    ];
    if primary {
        // Rings and DPDK's own structures, plus the slots when they live in a mempool.
        let pool_mb =
            if c.pool_kind == PoolKind::Mempool { (c.slots as u64 * (c.slot_size as u64 + 128)) >> 20 } else { 0 };
        a.extend(["-m".into(), (64 + pool_mb).to_string()]);
    }
    a.extend(c.eal_extra.iter().cloned());
    a
}

/// Remove DPDK runtime directories and hugepage files of deployments whose driver is gone
/// (a run killed with SIGKILL); returns what was removed.
pub fn clean_stale() -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let dead = |name: &str| -> bool {
        let Some(rest) = name.strip_prefix("sbd") else { return false };
        let pid: String = rest.chars().take_while(char::is_ascii_digit).collect();
        pid.parse::<u32>().is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists())
    };
    for dir in [RUNTIME_DIR, HUGE_DIR] {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if dead(&name) {
                let p = e.path();
                let ok =
                    if p.is_dir() { std::fs::remove_dir_all(&p).is_ok() } else { std::fs::remove_file(&p).is_ok() };
                if ok {
                    tracing::warn!("removed stale DPDK state {} (its run is gone)", p.display());
                    removed.push(p);
                }
            }
        }
    }
    removed
}

/// Remove what DPDK left for `prefix`: its runtime directory and its hugepage files.
fn remove_dpdk_state(prefix: &str) {
    let _ = std::fs::remove_dir_all(Path::new(RUNTIME_DIR).join(prefix));
    if let Ok(entries) = std::fs::read_dir(HUGE_DIR) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(prefix) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

struct DpdkDeployment {
    supervisor: Option<Supervisor>,
    endpoint: Endpoint,
    prefix: String,
    cpus: String,
    mode: PollMode,
    kind: PoolKind,
    pool: Option<Pool>,
}

impl DpdkDeployment {
    fn shutdown(&mut self) -> Vec<Exit> {
        let exits = self.supervisor.take().map(Supervisor::shutdown).unwrap_or_default();
        remove_dpdk_state(&self.prefix);
        self.pool = None;
        exits
    }
}

impl Drop for DpdkDeployment {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Deployment for DpdkDeployment {
    fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }
    fn components(&self) -> Vec<Component> {
        self.supervisor.as_ref().map(|s| s.components()).unwrap_or_default()
    }
    fn counters(&self) -> Vec<dataplane_api::Counter> {
        let Some(p) = &self.pool else { return Vec::new() };
        vec![
            dataplane_api::Counter {
                component: "pool".into(),
                name: "bad_descriptors".into(),
                value: p.bad_descriptors(),
            },
            dataplane_api::Counter {
                component: "pool".into(),
                name: "free_slots".into(),
                value: p.free_count() as u64,
            },
            dataplane_api::Counter { component: "pool".into(), name: "slots".into(), value: p.slots() as u64 },
        ]
    }
    fn placement(&self) -> String {
        format!(
            "every poller (gateway and functions) may run on CPUs {} ({CPUS_ENV}); {} ({POLL_ENV}); slots in {} ({POOL_ENV})",
            self.cpus,
            self.mode.describe(),
            match self.kind {
                PoolKind::Shm => "the hugetlbfs pool shared with S-SPRIGHT's design",
                PoolKind::Mempool => "a DPDK rte_mempool (pool counters are not visible to the driver)",
            }
        )
    }
    fn teardown(mut self: Box<Self>) -> Vec<Exit> {
        self.shutdown()
    }
}

fn default_cpus() -> String {
    std::env::var(CPUS_ENV).unwrap_or_else(|_| {
        let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        if n > 1 {
            format!("0-{}", n - 1)
        } else {
            "0".into()
        }
    })
}

impl Dataplane for DSpright {
    fn name(&self) -> &'static str {
        "d-spright"
    }

    fn label(&self) -> &'static str {
        "D-SPRIGHT: 16-byte descriptors through DPDK rte_rings, busy-polled (a core per poller), payload in a hugepage pool"
    }

    fn deploy(&self, chain: &Chain, env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError> {
        let mode: PollMode = env_choice(POLL_ENV)?;
        let kind: PoolKind = env_choice(POOL_ENV)?;
        static N: AtomicU16 = AtomicU16::new(1);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let spec = stage_chain(chain, env)?;
        clean_stale();
        let prefix = format!("sbd{}c{n}", std::process::id());
        let (pool, pool_arg) = match kind {
            PoolKind::Shm => {
                let (pool, path) = shm::create_chain_pool(chain, &format!("d{n}"))
                    .map_err(|e| DeployError::Unsupported(e.to_string()))?;
                (Some(pool), path.display().to_string())
            }
            PoolKind::Mempool => (None, format!("sb-{n}-slots")),
        };
        let cpus = default_cpus();
        let mut dep = DpdkDeployment {
            supervisor: Some(Supervisor::new(env, self.name())?),
            endpoint: Endpoint { addr: "127.0.0.1:0".parse().expect("literal"), host: None },
            prefix: prefix.clone(),
            cpus: cpus.clone(),
            mode,
            kind,
            pool,
        };
        let common = [
            format!("--chain={}", spec.display()),
            format!("--pool={pool_arg}"),
            format!("--chain-id={n}"),
            format!("--prefix={prefix}"),
            format!("--cpus={cpus}"),
            format!("--poll={}", choice_name(mode)),
            format!("--pool-kind={}", choice_name(kind)),
            format!("--slot-size={}", shm::slot_size(chain)),
            format!("--slots={}", chain.pool_slots),
        ];
        // The primary first: it creates every ring the secondaries look up.
        let (l, addr) = loopback_listener()?;
        dep.endpoint.addr = addr;
        let mut g = ComponentSpec::new("gateway", Role::Gateway)
            .arg("gateway")
            .arg(format!("--timeout-ms={}", chain.gateway_timeout_ms))
            .fd(l);
        g.args.extend(common.iter().cloned());
        let sup = dep.supervisor.as_mut().expect("set above");
        sup.start(g)?;
        for f in &chain.functions {
            let mut c = ComponentSpec::new(format!("fn-{}-{}", f.id, f.name), Role::Function)
                .arg("function")
                .arg(format!("--id={}", f.id));
            c.args.extend(common.iter().cloned());
            sup.start(c)?;
        }
        Ok(Box::new(dep))
    }

    fn component_main(&self, args: Vec<String>) -> Result<(), BoxError> {
        component::init_logging();
        match Cmd::try_parse_from(std::iter::once("component d-spright".to_string()).chain(args))? {
            Cmd::Gateway { common, timeout_ms } => gateway_main(common, timeout_ms),
            Cmd::Function { common, id } => function_main(common, id),
        }
    }
}

struct RingDispatch {
    chain_id: u16,
    pool: Arc<Pool>,
    rings: HashMap<FnId, Ring>,
    waiters: Arc<Waiters>,
    timeout: Duration,
}

impl Dispatch for RingDispatch {
    async fn dispatch(&self, route: &Route, body: Bytes) -> Result<Vec<u8>, GatewayError> {
        let a = request::admit(&self.pool, self.chain_id, route, &body).map_err(|e| match e {
            request::AdmitError::TooLarge { .. } => GatewayError::TooLarge(e.to_string()),
            request::AdmitError::Exhausted { .. } => GatewayError::NoCapacity(e.to_string()),
        })?;
        let rx = self.waiters.register(a.slot, a.gen);
        let d = Descriptor { dst: a.dst, src: key(self.chain_id, 0), slot: a.slot, gen: a.gen };
        let sent = self.rings.get(&key_function(a.dst)).is_some_and(|r| r.enqueue(&d));
        if !sent {
            self.waiters.forget(a.slot);
            self.pool.hand_over(a.slot, key(self.chain_id, 0));
            self.pool.free(a.slot);
            return Err(GatewayError::Upstream(format!("ring of function {} is missing or full", key_function(a.dst))));
        }
        self.waiters.wait(a.slot, rx, self.timeout).await
    }
}

/// The chain's pool: the hugetlbfs file, or the mempool (created by the primary).
fn open_pool(c: &Common, primary: bool) -> Result<Pool, BoxError> {
    let name = c.pool.to_string_lossy();
    Ok(match (c.pool_kind, primary) {
        (PoolKind::Shm, _) => Pool::open(&c.pool)?,
        (PoolKind::Mempool, true) => Pool::from_store(Box::new(MempoolStore::create(&name, c.slots, c.slot_size)?))?,
        (PoolKind::Mempool, false) => Pool::from_store(Box::new(MempoolStore::lookup(&name)?))?,
    })
}

fn gateway_main(c: Common, timeout_ms: u64) -> Result<(), BoxError> {
    let chain = Arc::new(workloads::load_chain(&c.chain)?);
    component::set_process_name("sb-gateway");
    eal_init(&eal_args("gateway", &c, true))?;
    let listener = component::take_listener()?;
    let mut rings = HashMap::new();
    for f in &chain.functions {
        rings.insert(f.id, Ring::create(&ring_name(c.chain_id, f.id), RING_SIZE)?);
    }
    let own = Ring::create(&ring_name(c.chain_id, 0), RING_SIZE)?;
    let pool = Arc::new(open_pool(&c, true)?);
    let waiters = Arc::new(Waiters::default());
    let dispatch = Arc::new(RingDispatch {
        chain_id: c.chain_id,
        pool: pool.clone(),
        rings,
        waiters: waiters.clone(),
        timeout: Duration::from_millis(timeout_ms),
    });
    let http_chain = chain.clone();
    std::thread::Builder::new().name("http".into()).spawn(move || -> std::io::Result<()> {
        let rt = component::runtime(1)?;
        rt.block_on(dataplane_api::gateway::serve(listener, http_chain, dispatch))
    })?;
    component::signal_ready("");
    let me = key(c.chain_id, 0);
    let mut idle = Idle::new(c.poll);
    loop {
        let Some(d) = own.dequeue() else {
            idle.empty();
            continue;
        };
        idle.busy();
        match pool.validate(&d, me) {
            Ok(slot) => {
                waiters.complete(slot, d.gen, || {
                    request::finish(&pool, slot).map_err(|m| GatewayError::Upstream(m.into()))
                });
            }
            Err(e) => tracing::warn!("dropped a bad descriptor from {:#x}: {e}", d.src),
        }
    }
}

fn function_main(c: Common, id: FnId) -> Result<(), BoxError> {
    let chain = Arc::new(workloads::load_chain(&c.chain)?);
    let f = chain.function(id).ok_or_else(|| format!("chain {} has no function {id}", chain.name))?;
    let workers = f.workers as usize;
    let handler: Arc<dyn workloads::Handler> = Arc::from(f.handler.build(id));
    component::set_process_name(&format!("sb-fn-{id}"));
    eal_init(&eal_args(&format!("fn{id}"), &c, false))?;
    let own = Ring::lookup(&ring_name(c.chain_id, id))?;
    let mut rings = HashMap::new();
    rings.insert(0, Ring::lookup(&ring_name(c.chain_id, 0))?);
    for g in &chain.functions {
        rings.insert(g.id, Ring::lookup(&ring_name(c.chain_id, g.id))?);
    }
    let pool = Arc::new(open_pool(&c, false)?);
    let rings = Arc::new(rings);
    component::signal_ready("");
    let mode = c.poll;
    let poll = move || {
        let me = key(c.chain_id, id);
        let mut idle = Idle::new(mode);
        loop {
            let Some(d) = own.dequeue() else {
                idle.empty();
                continue;
            };
            idle.busy();
            let slot = match pool.validate(&d, me) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("dropped a bad descriptor from {:#x}: {e}", d.src);
                    continue;
                }
            };
            let dst = request::advance(&pool, &chain, c.chain_id, id, handler.as_ref(), slot);
            let next = Descriptor { dst, src: me, slot, gen: d.gen };
            let delivered = rings.get(&key_function(dst)).is_some_and(|r| {
                // A full ring means the next poller is behind: wait for room, as DPDK apps do.
                while !r.enqueue(&next) {
                    std::hint::spin_loop();
                }
                true
            });
            if !delivered {
                let back = Descriptor { dst: request::bounce(&pool, c.chain_id, slot), ..next };
                if let Some(r) = rings.get(&0) {
                    let _ = r.enqueue(&back);
                }
            }
        }
    };
    let poll = Arc::new(poll);
    for w in 1..workers {
        let p = poll.clone();
        std::thread::Builder::new().name(format!("poller-{w}")).spawn(move || p())?;
    }
    poll();
    #[allow(unreachable_code)]
    Ok(())
}
