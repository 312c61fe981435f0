//! The SPRIGHT gateway: HTTP in ([`dataplane_api::gateway`]), one copy into the pool,
//! descriptors out, and every returning descriptor matched to the request waiting for it.
//!
//! Dispatch is the sequence the gateway race fixed earlier was about, written once: admit,
//! register the waiter, send; if the send fails, forget the waiter *before* withdrawing (and
//! freeing) the slot, so a request that gets the freed slot at once never meets this one's entry.
//!
//! The event loop is one runtime on one or more threads (its tasks move between them), or, with
//! option [`CPUS`] `by-lane`, one single-threaded loop per lane ([`OnLane`]), each pinned to a
//! CPU and serving its own connections with pool slots of its own lane.

use crate::protocol;
use crate::{Transport, Waiters};
use bytes::Bytes;
use dataplane_api::gateway::{Dispatch, GatewayError};
use dataplane_api::placement::gateway_cores;
use dataplane_api::{DeployEnv, Invalid, OptionSpec, Role, Slot, Values};
use shm::{gateway_key, key_function, Descriptor, Pool};
use std::io::ErrorKind;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;
use workloads::{Reply, Route, State};

/// Option `gateway-threads` of every SPRIGHT backend: the threads of the gateway's HTTP event
/// loop. One thread parses every request and sends every descriptor; on a machine with cores to
/// spare that one thread is the chain's ceiling, so `auto` gives the gateway as many threads as
/// the paper gave it cores ([`gateway_cores`]: three on 8 or more CPUs, else one), never more
/// than the CPUs its placement lets it use, less one for a busy-polling receiver.
pub const THREADS: OptionSpec = OptionSpec {
    key: "gateway-threads",
    help: "threads of the gateway's HTTP event loop: N, or auto (3 on machines with 8 or more CPUs, as the paper gave its gateway three cores, else 1; at most the CPUs the placement gives the gateway, less one for a busy-polling receiver)",
    default: Some("auto"),
    values: Values::Check(|v| parse_threads(v).map(drop)),
};

/// Option `gateway-send` of a SPRIGHT backend whose gateway has lanes: each request's
/// descriptor sent by its own task, or a lane's together ([`Gateway::send_in_batches`]).
pub const SEND: OptionSpec = OptionSpec::choice(
    "gateway-send",
    "how the gateway sends requests' descriptors: each (by the request's own task, at once) or batch (into the lane's outbox, which a task of the lane sends after the event loop's other ready tasks, all in one system call: a request waits one turn of the event loop; on 2 cores the highest unsaturated rate rose 9-19% on synthetic-5 and 0-9% on Online Boutique, while median latency and CPU per request at 1,000 req/s moved between -8% and +12% from one measurement to the next)",
    &["each", "batch"],
);

/// Option `gateway-cpus` of a SPRIGHT backend whose gateway has several lanes: one event loop
/// whose tasks move between its threads, or a loop per lane pinned to a CPU of its own.
pub const CPUS: OptionSpec = OptionSpec::choice(
    "gateway-cpus",
    "with gateway-queues=per-thread, how the gateway's threads run: inherit (one event loop on gateway-threads threads, its tasks moving between them and the CPUs the process may use) or by-lane (an event loop per lane on a thread of its own, lane i's on the i-th of the gateway's CPUs, round robin; it serves its share of the connections, dealt round robin, and takes pool slots of its own lane, so a request's descriptor leaves and comes back on the thread that read the request; with worker-cpus=by-queue, as many workers a function as lanes and the same CPUs for gateway and functions, every hop of a request stays on one core)",
    &["inherit", "by-lane"],
);

/// `auto` (None) or a thread count from 1 to 64.
fn parse_threads(v: &str) -> Result<Option<usize>, Invalid> {
    match v {
        "auto" => Ok(None),
        _ => match v.parse::<usize>() {
            Ok(n) if (1..=64).contains(&n) => Ok(Some(n)),
            _ => Err(Invalid::expected("use auto or a number of threads from 1 to 64")),
        },
    }
}

/// The gateway's HTTP threads in `env` (option [`THREADS`], resolved against the placement;
/// `poller`: the gateway also busy-polls on a thread of its own).
pub fn threads(env: &DeployEnv, specs: &[OptionSpec], poller: bool) -> usize {
    let given = env.options.get(specs, THREADS.key).and_then(|v| parse_threads(v).ok().flatten());
    given.unwrap_or_else(|| {
        let p = &env.placement;
        let mine = p.cpus(Slot { role: Role::Gateway, function: None }).map_or(p.allowed.len(), |c| c.len());
        gateway_cores(p.allowed.len()).min(mine.saturating_sub(usize::from(poller))).max(1)
    })
}

pub struct Gateway<T> {
    chain_id: u16,
    pool: Pool,
    /// Where the event loop waits for the transport: its lanes ([`Transport::lanes`]), none
    /// for a polling one. Declared before `transport`, so they are deregistered before the
    /// transport closes their descriptors.
    lanes: Vec<AsyncFd<RawFd>>,
    /// Descriptors waiting to go out on each lane, sent together by the lane's sender task
    /// ([`Gateway::send_lane`]).
    outbox: Vec<Outbox>,
    transport: T,
    /// Requests waiting for their slot; a timed-out one is abandoned and its slot freed when
    /// the descriptor comes back, the first moment that is safe.
    waiters: Waiters,
    timeout: Duration,
    bad: AtomicU64,
}

impl<T: Transport> Gateway<T> {
    /// A gateway for chain `chain_id`. Where the transport has lanes, this must run inside the
    /// gateway's runtime (it registers their descriptors with it).
    pub fn new(chain_id: u16, pool: Pool, transport: T, timeout: Duration) -> std::io::Result<Self> {
        Self::new_on(chain_id, pool, transport, timeout, |_| Handle::current())
    }

    /// [`Gateway::new`] with lane `i` registered with the event loop `runtime(i)`: a loop per
    /// lane ([`OnLane`]).
    pub fn new_on(
        chain_id: u16,
        pool: Pool,
        transport: T,
        timeout: Duration,
        runtime: impl Fn(usize) -> Handle,
    ) -> std::io::Result<Self> {
        let register = |(i, fd)| {
            let _in = runtime(i).enter();
            // SAFETY: the descriptors belong to `transport`, which lives in the same struct and
            // is dropped after `lanes` (field order), so they stay open while they are registered.
            unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1)
        };
        let lanes: Vec<AsyncFd<RawFd>> =
            transport.lanes().into_iter().enumerate().map(register).collect::<std::io::Result<_>>()?;
        let waiters = Waiters::new(pool.slots());
        let outbox = Vec::new();
        Ok(Gateway { chain_id, pool, transport, lanes, outbox, waiters, timeout, bad: AtomicU64::new(0) })
    }

    /// Send each lane's descriptors together, those its event loop's requests made in one turn
    /// (option [`SEND`] `batch`; a transport with lanes): an outbox and a sender task per lane
    /// ([`Gateway::send_lane`]).
    pub fn send_in_batches(mut self) -> Self {
        self.outbox = self.lanes.iter().map(|_| Outbox::default()).collect();
        self
    }

    async fn send(&self, d: &Descriptor) -> std::io::Result<()> {
        if self.lanes.is_empty() {
            return self.transport.send(d);
        }
        let fd = &self.lanes[crate::lane(d.slot, self.lanes.len())];
        loop {
            let mut guard = fd.writable().await?;
            match self.transport.send(d) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => guard.clear_ready(),
                r => return r,
            }
        }
    }

    /// Send and receive descriptors in the event loop, each lane's tasks ([`Gateway::run_lane`]),
    /// until the transport closes (or a lane fails).
    pub async fn receive(self: Arc<Self>) -> std::io::Result<()> {
        assert!(!self.lanes.is_empty(), "a transport with lanes");
        let mut lanes = tokio::task::JoinSet::new();
        for lane in 0..self.lanes.len() {
            lanes.spawn(self.clone().run_lane(lane));
        }
        match lanes.join_next().await {
            Some(r) => r.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    /// Lane `lane`'s tasks, in the event loop that registered it: its receiver
    /// ([`Gateway::receive_lane`]) and, sending in batches, its sender ([`Gateway::send_lane`]),
    /// until either ends (the other is then stopped).
    pub async fn run_lane(self: Arc<Self>, lane: usize) -> std::io::Result<()> {
        if self.outbox.is_empty() {
            return self.receive_lane(lane).await;
        }
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(self.clone().send_lane(lane));
        tasks.spawn(self.receive_lane(lane));
        match tasks.join_next().await {
            Some(r) => r.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    /// Send what the requests of `lane` put in its outbox, everything waiting at once
    /// ([`Transport::send_batch`]), until stopped with the lane's receiver. The task wakes when
    /// a request adds to the outbox, and runs after the tasks that were ready before it (a
    /// single-threaded event loop, as one gateway thread or a loop per lane has, runs its ready
    /// tasks in order; a multi-threaded one may run it sooner, batching less): the requests the
    /// loop read in one turn, from several connections, leave in one send, where each cost a
    /// system call. A descriptor that cannot be sent fails its request at once.
    async fn send_lane(self: Arc<Self>, lane: usize) -> std::io::Result<()> {
        let (fd, outbox) = (&self.lanes[lane], &self.outbox[lane]);
        let mut batch = Vec::new();
        loop {
            outbox.ready.notified().await;
            std::mem::swap(&mut batch, &mut *outbox.queue.lock().unwrap_or_else(|e| e.into_inner()));
            let mut sent = 0;
            while sent < batch.len() {
                let mut guard = fd.writable().await?;
                match self.transport.send_batch(&batch[sent..]) {
                    Ok(()) => sent = batch.len(),
                    Err((n, e)) if e.kind() == ErrorKind::WouldBlock => {
                        sent += n;
                        guard.clear_ready();
                    }
                    Err((n, e)) => {
                        self.unsent(&batch[sent + n], &e);
                        sent += n + 1;
                    }
                }
            }
            batch.clear();
        }
    }

    /// `d` could not be sent: its request fails now (its waiter gets the error), and its slot is
    /// freed.
    fn unsent(&self, d: &Descriptor, e: &std::io::Error) {
        let why = format!("cannot reach function {}: {e}", key_function(d.dst));
        self.waiters.complete(d.slot, d.gen, || {
            protocol::withdraw(&self.pool, d);
            Err(GatewayError::Upstream(why))
        });
    }

    /// Receive the descriptors that come back on `lane`, in the event loop that registered it,
    /// until the transport closes.
    async fn receive_lane(self: Arc<Self>, lane: usize) -> std::io::Result<()> {
        let fd = &self.lanes[lane];
        let (spin, mut arrivals) = (self.transport.spin(), crate::Arrivals::new());
        loop {
            let mut guard = fd.readable().await?;
            loop {
                match self.transport.recv_lane(lane) {
                    Ok(Some(d)) => {
                        if !spin.is_zero() {
                            arrivals.note(Instant::now());
                        }
                        self.complete(d)
                    }
                    Ok(None) => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if arrivals.worth_polling(spin) && poll_for(*fd.get_ref(), spin).await {
                            continue;
                        }
                        guard.clear_ready();
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Receive returning descriptors on the calling thread until the transport closes.
    pub fn receive_blocking(&self) -> std::io::Result<()> {
        crate::receive_each(&self.transport, |d| self.complete(d))
    }

    fn complete(&self, d: Descriptor) {
        let me = gateway_key(self.chain_id);
        let slot = match d.dst == me {
            true => self.pool.validate(&d, me),
            false => protocol::undelivered(&self.pool, &d),
        };
        match slot {
            Ok(slot) => self.waiters.complete(slot, d.gen, || {
                protocol::finish(&self.pool, slot).map_err(|m| GatewayError::Upstream(m.into()))
            }),
            Err(e) => warn_bad(&self.bad, &d, &e),
        }
    }
}

/// One lane's descriptors waiting to be sent ([`Gateway::send_lane`]).
#[derive(Default)]
struct Outbox {
    queue: std::sync::Mutex<Vec<Descriptor>>,
    ready: tokio::sync::Notify,
}

impl Outbox {
    /// Queue `d` for the lane's sender, and wake it.
    fn push(&self, d: Descriptor) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(d);
        self.ready.notify_one();
    }
}

/// Poll `fd` for up to `spin` ([`Transport::spin`]), yielding to the runtime's other tasks
/// between checks, so that the thread neither sleeps nor keeps its HTTP connections waiting;
/// whether something came.
async fn poll_for(fd: RawFd, spin: Duration) -> bool {
    let until = Instant::now() + spin;
    while Instant::now() < until {
        tokio::task::yield_now().await;
        if crate::readable_now(fd) {
            return true;
        }
    }
    false
}

/// Log a rejected descriptor (the first ten of a process; the pool counts all of them).
pub(crate) fn warn_bad(count: &AtomicU64, d: &Descriptor, e: &shm::BadDescriptor) {
    if count.fetch_add(1, Ordering::Relaxed) < 10 {
        tracing::warn!("dropped a bad descriptor from {:#x}: {e}", d.src);
    }
}

impl<T: Transport> Dispatch for Gateway<T> {
    async fn dispatch(&self, route: &Route, state: State, body: Bytes) -> Result<Reply, GatewayError> {
        self.dispatch_in(0, route, state, body).await
    }
}

/// The gateway as the event loop of one lane serves it (option [`CPUS`] `by-lane`): its
/// requests take slots of the pool's free list `lane` ([`shm::Pool::alloc_in`]), which
/// [`crate::lane`] sends out and brings back on this lane, while it has some; then any.
pub struct OnLane<T> {
    pub gateway: Arc<Gateway<T>>,
    pub lane: usize,
}

impl<T: Transport> Dispatch for OnLane<T> {
    async fn dispatch(&self, route: &Route, state: State, body: Bytes) -> Result<Reply, GatewayError> {
        self.gateway.dispatch_in(self.lane as u32, route, state, body).await
    }
}

impl<T: Transport> Gateway<T> {
    /// Run one request through the chain in a slot of the pool's free list `stripe`.
    async fn dispatch_in(&self, stripe: u32, route: &Route, state: State, body: Bytes) -> Result<Reply, GatewayError> {
        let d = protocol::admit(&self.pool, self.chain_id, route, state, &body, stripe)?;
        let rx = self.waiters.register(d.slot, d.gen);
        if let Some(outbox) = self.outbox.get(crate::lane(d.slot, self.outbox.len())) {
            outbox.push(d);
        } else if let Err(e) = self.send(&d).await {
            self.unsent(&d, &e);
        }
        self.waiters.wait(d.slot, rx, self.timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane_api::{BackendOptions, Placement};

    fn env(placement: &str, cpus: usize, given: &[(&str, &str)]) -> DeployEnv {
        let given: Vec<(String, String)> = given.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DeployEnv {
            exe: "spright-bench".into(),
            log_dir: "logs".into(),
            ready_timeout: Duration::from_secs(1),
            options: BackendOptions::resolve("test", &[THREADS], &given).unwrap(),
            placement: Placement::parse(placement, (0..cpus).collect()).unwrap(),
        }
    }

    /// `auto`, case by case as the option's help states it; a number is taken as given.
    #[test]
    fn auto_threads_follow_the_machine_and_the_placement() {
        let t = |placement, cpus, poller| threads(&env(placement, cpus, &[]), &[THREADS], poller);
        assert_eq!(t("none", 2, false), 1, "2 CPUs");
        assert_eq!(t("none", 16, false), 3, "16 CPUs, unpinned");
        assert_eq!(t("none", 16, true), 3, "16 CPUs, unpinned, a poller beside");
        assert_eq!(t("paper", 16, false), 3, "the paper's three gateway cores");
        assert_eq!(t("paper", 16, true), 2, "three cores, one of them the poller's");
        assert_eq!(t("one-core", 16, false), 1);
        assert_eq!(t("gateway=0-1", 16, false), 2, "a map with two CPUs for the gateway");
        assert_eq!(t("paper", 2, true), 1, "never zero");
        let given = env("one-core", 2, &[("gateway-threads", "6")]);
        assert_eq!(threads(&given, &[THREADS], true), 6);
    }

    #[test]
    fn thread_counts_out_of_range_are_refused() {
        for bad in ["0", "65", "-1", "two", ""] {
            let given = vec![("gateway-threads".to_string(), bad.to_string())];
            assert!(BackendOptions::resolve("test", &[THREADS], &given).is_err(), "{bad:?}");
        }
        assert_eq!(parse_threads("64"), Ok(Some(64)));
        assert_eq!(parse_threads("auto"), Ok(None));
    }
}
