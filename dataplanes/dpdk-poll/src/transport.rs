//! The DPDK transport: a ring per process, busy-polled (driver side: [`DpdkHost`]; process
//! side: [`Rings`]).
//!
//! The gateway process is the DPDK primary (`--proc-type=primary`, a file prefix unique to the
//! deployment, `--no-pci`) and creates every ring, and the slots when they live in a mempool,
//! before it reports ready; functions are secondaries that look them up.

use crate::dpdk::{eal_init, ring_name, Ring};
use crate::mempool::MempoolStore;
use dataplane_api::{DeployEnv, DeployError, OptionSpec};
use shm::{key_function, Descriptor, Pool};
use spright::{Backend, BoxError, Connect, Host, Transport, Who};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::{Chain, FnId};

/// DPDK's runtime directory for a file prefix is `RUNTIME_DIR/<prefix>`.
const RUNTIME_DIR: &str = "/var/run/dpdk";
const HUGE_DIR: &str = "/dev/hugepages";

/// Where D-SPRIGHT's slots live (option `pool`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PoolKind {
    /// The same hugetlbfs pool as S-SPRIGHT: only the transport differs between the two.
    Shm,
    /// A DPDK rte_mempool created by the primary, as in the paper's D-SPRIGHT.
    Mempool,
}

/// How a poller waits when its ring is empty (option `poll`).
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

/// The value of a `clap::ValueEnum` option (validated against [`OPTIONS`]), and back.
fn choice<T: clap::ValueEnum>(v: &str) -> T {
    T::from_str(v, false).unwrap_or_else(|_| T::value_variants()[0].clone())
}

fn choice_name<T: clap::ValueEnum>(v: &T) -> String {
    v.to_possible_value().map(|p| p.get_name().to_string()).unwrap_or_default()
}

pub struct Dpdk;

/// The transport's arguments in component processes.
#[derive(clap::Args)]
pub struct DpdkArgs {
    /// DPDK file prefix of this deployment.
    #[arg(long)]
    prefix: String,
    /// How pollers wait on an empty ring.
    #[arg(long, value_enum, default_value = "busy")]
    poll: PollMode,
    /// Where slots live; with `mempool`, `--pool` is the mempool's name.
    #[arg(long, value_enum, default_value = "shm")]
    pool_kind: PoolKind,
    /// Extra EAL arguments (for tests of EAL failures).
    #[arg(long = "eal-extra", allow_hyphen_values = true)]
    eal_extra: Vec<String>,
}

impl Backend for Dpdk {
    const NAME: &str = "d-spright";
    const LABEL: &str = "D-SPRIGHT: 16-byte descriptors through DPDK rte_rings, busy-polled (a core per poller), payload in a hugepage pool";

    const OPTIONS: &[OptionSpec] = &[
        OptionSpec::choice(
            "poll",
            "how pollers wait on an empty ring: busy (the paper's) or backoff (sleeps 50 us once idle)",
            &["busy", "backoff"],
        ),
        OptionSpec::choice(
            "pool",
            "where slots live: shm (S-SPRIGHT's hugetlbfs pool) or mempool (a DPDK rte_mempool)",
            &["shm", "mempool"],
        ),
        spright::gateway::THREADS,
        spright::relay::RUNTIME,
    ];
    const GATEWAY_POLLS: bool = true;

    type Host = DpdkHost;

    fn setup(&self, _chain: &Chain, chain_id: u16, env: &DeployEnv) -> Result<DpdkHost, DeployError> {
        let opt = |k: &str| env.options.get(Self::OPTIONS, k).unwrap_or_default();
        clean_stale();
        Ok(DpdkHost {
            prefix: format!("sbd{}c{chain_id}", std::process::id()),
            chain_id,
            poll: choice(opt("poll")),
            pool: choice(opt("pool")),
        })
    }

    type Args = DpdkArgs;
    type Transport = Rings;

    fn connect(&self, c: &Connect<'_, DpdkArgs>) -> Result<(Rings, Pool), BoxError> {
        let primary = c.who == Who::Gateway;
        eal_init(&eal_args(c, primary))?;
        // Its own ring first: the one whose absence says most.
        let own_id = c.who.func();
        let others = std::iter::once(0).chain(c.chain.functions.iter().map(|f| f.id)).filter(|&id| id != own_id);
        let size = ring_size(c.chain);
        let mut peers = HashMap::new();
        for id in std::iter::once(own_id).chain(others) {
            let name = ring_name(c.chain_id, id);
            peers.insert(id, if primary { Ring::create(&name, size)? } else { Ring::lookup(&name)? });
        }
        let own = peers[&own_id];
        let pool = open_pool(c, primary)?;
        let alone = match c.who {
            Who::Gateway => true,
            Who::Function(id) => c.chain.function(id).is_none_or(|f| f.workers <= 1),
        };
        Ok((Rings::new(own, peers, c.args.poll, alone), pool))
    }
}

/// A ring can hold every descriptor of the pool (one per slot at most), so a send never waits
/// for room in a working chain.
fn ring_size(chain: &Chain) -> u32 {
    (chain.pool_slots + 1).next_power_of_two().max(1024)
}

fn eal_args(c: &Connect<'_, DpdkArgs>, primary: bool) -> Vec<String> {
    let a = c.args;
    let role = match c.who {
        Who::Gateway => "gateway".to_string(),
        Who::Function(id) => format!("fn{id}"),
    };
    let mut v = vec![
        format!("sb-{role}"),
        format!("--proc-type={}", if primary { "primary" } else { "secondary" }),
        format!("--file-prefix={}", a.prefix),
        "--no-pci".into(),
        "--no-telemetry".into(),
        "--iova-mode=va".into(),
        format!("--huge-dir={HUGE_DIR}"),
        // The CPUs the placement policy gave this process (its affinity when it started).
        format!("--lcores=0@({})", dataplane_api::placement::cpu_list(&dataplane_api::Placement::allowed_here())),
        "--log-level=lib.eal:warning".into(),
    ];
    if primary {
        // Rings and DPDK's own structures, plus the slots when they live in a mempool.
        let pool_mb = match a.pool_kind {
            PoolKind::Mempool => (c.chain.pool_slots as u64 * (shm::slot_size(c.chain) as u64 + 128)) >> 20,
            PoolKind::Shm => 0,
        };
        v.extend(["-m".into(), (64 + pool_mb).to_string()]);
    }
    v.extend(a.eal_extra.iter().cloned());
    v
}

/// The chain's pool: the hugetlbfs file, or the mempool (created by the primary).
fn open_pool(c: &Connect<'_, DpdkArgs>, primary: bool) -> Result<Pool, BoxError> {
    let name = c.pool.to_string_lossy();
    Ok(match (c.args.pool_kind, primary) {
        (PoolKind::Shm, _) => Pool::open(c.pool)?,
        (PoolKind::Mempool, true) => {
            Pool::from_store(Box::new(MempoolStore::create(&name, c.chain.pool_slots, shm::slot_size(c.chain))?))?
        }
        (PoolKind::Mempool, false) => Pool::from_store(Box::new(MempoolStore::lookup(&name)?))?,
    })
}

/// A process's rings: its own, polled by every worker, and every process's of the chain.
pub struct Rings {
    own: Ring,
    peers: HashMap<FnId, Ring>,
    poll: PollMode,
    /// The most descriptors one receive takes ([`spright::BATCH`] for a poller alone on its
    /// ring, else 1).
    burst: usize,
}

impl Rings {
    /// Receive on `own` and send to `peers`. A poller `alone` on its ring (the gateway's
    /// receiver, a function's one worker) takes everything waiting, up to [`spright::BATCH`],
    /// in one dequeue; workers sharing a ring take one each, so none sits on another's work.
    pub fn new(own: Ring, peers: HashMap<FnId, Ring>, poll: PollMode, alone: bool) -> Rings {
        Rings { own, peers, poll, burst: if alone { spright::BATCH } else { 1 } }
    }

    fn ring(&self, d: &Descriptor) -> std::io::Result<&Ring> {
        self.peers
            .get(&key_function(d.dst))
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no ring for that destination"))
    }

    /// Poll with `take` until it brings something, waiting between empty polls as `poll` says.
    fn poll<R>(&self, mut take: impl FnMut() -> Option<R>) -> R {
        let mut empty = 0u32;
        loop {
            if let Some(r) = take() {
                return r;
            }
            match self.poll {
                PollMode::Busy => std::hint::spin_loop(),
                // Spin through a short gap between requests; once idle, sleep between polls
                // until work arrives again.
                PollMode::Backoff if empty > 1000 => std::thread::sleep(Duration::from_micros(50)),
                PollMode::Backoff => {
                    empty += 1;
                    std::hint::spin_loop();
                }
            }
        }
    }
}

/// Put all of `ds` on `r`, in order, waiting for room: a full ring means its poller is behind,
/// and DPDK applications wait for it.
fn enqueue_all(r: &Ring, ds: &[Descriptor]) {
    let mut done = 0;
    while done < ds.len() {
        done += r.enqueue_burst(&ds[done..]);
        if done < ds.len() {
            std::hint::spin_loop();
        }
    }
}

impl Transport for Rings {
    fn send(&self, d: &Descriptor) -> std::io::Result<()> {
        enqueue_all(self.ring(d)?, std::slice::from_ref(d));
        Ok(())
    }

    /// Each run of consecutive descriptors for one destination goes onto its ring in one burst
    /// (one reservation of the ring's head for all of them), in order.
    fn send_batch(&self, ds: &[Descriptor]) -> Result<(), (usize, std::io::Error)> {
        let mut i = 0;
        while let Some(first) = ds.get(i) {
            let to = key_function(first.dst);
            let run = ds[i..].iter().take_while(|d| key_function(d.dst) == to).count();
            enqueue_all(self.ring(first).map_err(|e| (i, e))?, &ds[i..i + run]);
            i += run;
        }
        Ok(())
    }

    fn recv(&self) -> std::io::Result<Option<Descriptor>> {
        Ok(Some(self.poll(|| self.own.dequeue())))
    }

    /// Everything waiting on the ring, up to `burst`, in one dequeue.
    fn recv_batch(&self, out: &mut Vec<Descriptor>) -> std::io::Result<bool> {
        let mut buf = [Descriptor { dst: 0, src: 0, slot: 0, gen: 0 }; spright::BATCH];
        let want = &mut buf[..self.burst];
        let n = self.poll(|| match self.own.dequeue_burst(want) {
            0 => None,
            n => Some(n),
        });
        out.extend_from_slice(&buf[..n]);
        Ok(true)
    }
}

/// DPDK's runtime files of one deployment, removed on drop.
pub struct DpdkHost {
    prefix: String,
    chain_id: u16,
    poll: PollMode,
    pool: PoolKind,
}

impl Host for DpdkHost {
    fn component(&mut self, _who: Who, _name: &str) -> Result<(Vec<OwnedFd>, Vec<String>), DeployError> {
        let args = vec![
            format!("--prefix={}", self.prefix),
            format!("--poll={}", choice_name(&self.poll)),
            format!("--pool-kind={}", choice_name(&self.pool)),
        ];
        Ok((Vec::new(), args))
    }

    fn own_pool(&self) -> Option<String> {
        (self.pool == PoolKind::Mempool).then(|| format!("sb-{}-slots", self.chain_id))
    }

    fn placement(&self) -> Option<String> {
        Some(format!(
            "every poller (gateway and functions) runs where --placement puts its process (DPDK's lcore 0 on those CPUs); {} (option poll); slots in {} (option pool)",
            self.poll.describe(),
            match self.pool {
                PoolKind::Shm => "the hugetlbfs pool shared with S-SPRIGHT's design",
                PoolKind::Mempool => "a DPDK rte_mempool (pool counters are not visible to the driver)",
            }
        ))
    }
}

impl Drop for DpdkHost {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(Path::new(RUNTIME_DIR).join(&self.prefix));
        if let Ok(entries) = std::fs::read_dir(HUGE_DIR) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&self.prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
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
