//! The SK_MSG transport: one socket-map socket per process (driver side: [`SkMsgHost`]; process
//! side: [`SkMsgSocket`]).

use crate::node::{DropReason, EbpfNode};
use crate::wire;
use dataplane_api::placement::nth_cpu;
use dataplane_api::{BackendOptions, Counter, DeployEnv, DeployError, Invalid, OptionSpec, Values};
use shm::{key, Descriptor, Pool};
use spright::{Backend, BoxError, Connect, Host, Transport, Who};
use std::collections::{HashMap, VecDeque};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::Chain;

pub struct SkMsg;

/// How function workers are scheduled (option `sched`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Sched {
    /// The kernel's default (SCHED_OTHER): a descriptor's arrival may preempt its sender.
    Normal,
    /// SCHED_BATCH: a woken worker does not preempt the process that woke it, so on a shared
    /// core a sender (the gateway) goes on handling requests and the worker takes several
    /// descriptors per wake-up.
    Batch,
}

/// S-SPRIGHT's arguments in component processes.
#[derive(clap::Args)]
pub struct SkMsgArgs {
    /// How this function's workers are scheduled.
    #[arg(long, value_enum, default_value = "normal")]
    sched: Sched,
    /// This process's receive queues: the sockets passed to it, one per function worker or
    /// gateway thread where there are several.
    #[arg(long, default_value_t = 1)]
    queues: usize,
    /// Microseconds a receiver (function worker, gateway lane) polls for the next descriptor
    /// before it sleeps.
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
    /// Pin the worker of receive queue `i` to the `i`-th CPU (round robin) this process may use.
    #[arg(long)]
    pin_queues: bool,
}

/// Put the calling process under SCHED_BATCH (threads it starts later inherit it).
pub fn sched_batch() -> std::io::Result<()> {
    let p = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on the calling process with a valid parameter.
    match unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &p) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Option `sched` ([`Sched`]).
const SCHED: OptionSpec = OptionSpec::choice(
    "sched",
    "how function workers are scheduled: normal (the kernel's default) or batch (SCHED_BATCH: a woken worker does not preempt its sender, so descriptors batch up on a shared core)",
    &["normal", "batch"],
);

/// Option `queues`: a function's receive queues, one socket or one per worker.
const QUEUES: OptionSpec = OptionSpec::choice(
    "queues",
    "receive queues of a function with several workers: shared (one socket, one idle worker woken per descriptor) or per-worker (a socket per worker, descriptors spread over them by slot as RSS spreads flows: no socket lock shared by the workers, but a descriptor waits for its own worker)",
    &["shared", "per-worker"],
);

/// Option `spin-us`: how long an idle receiver (function worker, gateway lane) polls before it
/// sleeps.
const SPIN: OptionSpec = OptionSpec {
    key: "spin-us",
    help: "microseconds a function worker, and the gateway's event loop, poll for the next descriptor before they sleep, when the gap between their last two was shorter than that (0: never, the paper's event-driven mode); under sustained load a polling receiver takes the next descriptor without a wake-up and its sender wakes nobody, at the cost of up to this much CPU per gap; an idle chain still sleeps (0 to 10000)",
    default: Some("0"),
    values: Values::Check(|v| match v.parse::<u64>() {
        Ok(0..=10_000) => Ok(()),
        _ => Err(Invalid::expected("microseconds from 0 to 10000")),
    }),
};

/// Option `worker-cpus`: where a function's per-worker queues' workers run.
const WORKER_CPUS: OptionSpec = OptionSpec::choice(
    "worker-cpus",
    "with queues=per-worker, where each worker runs: inherit (on every CPU its process may use) or by-queue (the worker of queue i on the i-th of its process's CPUs, round robin; queue i of every function then shares one core, and since a request's slot picks the same queue in every function, all its function-to-function hops stay on that core: no wake-up crosses cores between functions; give the functions the same CPUs with --placement)",
    &["inherit", "by-queue"],
);

/// Option `gateway-queues`: the gateway's receive queues, one socket or one per HTTP thread.
const GATEWAY_QUEUES: OptionSpec = OptionSpec::choice(
    "gateway-queues",
    "receive queues of the gateway: shared (one socket for every HTTP thread) or per-thread (a socket per gateway-threads thread, its lanes: a request's descriptor goes out on lane slot % threads and comes back on it, so the threads share no socket lock)",
    &["shared", "per-thread"],
);

impl Backend for SkMsg {
    const NAME: &str = "s-spright";
    const LABEL: &str = "S-SPRIGHT: 16-byte descriptors via eBPF SK_MSG redirect in a SOCKHASH, payload in a hugepage pool, event-driven";

    const OPTIONS: &[OptionSpec] = &[
        SCHED,
        QUEUES,
        WORKER_CPUS,
        spright::gateway::THREADS,
        GATEWAY_QUEUES,
        spright::gateway::CPUS,
        spright::gateway::SEND,
        SPIN,
        spright::relay::RUNTIME,
    ];

    /// Options that need each other.
    fn check(&self, _chain: &Chain, options: &BackendOptions) -> Result<(), DeployError> {
        let is = |spec: &OptionSpec, value| options.is(Self::OPTIONS, spec, value);
        if is(&WORKER_CPUS, "by-queue") && !is(&QUEUES, "per-worker") {
            return Err(DeployError::Unsupported(
                "worker-cpus=by-queue pins the worker of each receive queue: it needs queues=per-worker".into(),
            ));
        }
        if is(&spright::gateway::CPUS, "by-lane") && !is(&GATEWAY_QUEUES, "per-thread") {
            return Err(DeployError::Unsupported(
                "gateway-cpus=by-lane gives each gateway lane an event loop: it needs gateway-queues=per-thread".into(),
            ));
        }
        Ok(())
    }

    type Host = SkMsgHost;

    fn setup(&self, chain: &Chain, chain_id: u16, env: &DeployEnv) -> Result<SkMsgHost, DeployError> {
        let node = EbpfNode::shared().map_err(DeployError::host("load the SK_MSG program"))?;
        let sched = env.options.get(Self::OPTIONS, SCHED.key).unwrap_or("normal").to_string();
        let per_worker = env.options.is(Self::OPTIONS, &QUEUES, "per-worker");
        let pin_queues = env.options.is(Self::OPTIONS, &WORKER_CPUS, "by-queue");
        let queues =
            chain.functions.iter().map(|f| (f.id, if per_worker { f.workers.max(1) as usize } else { 1 })).collect();
        let lanes = env.options.is(Self::OPTIONS, &GATEWAY_QUEUES, "per-thread");
        let gateway_queues = match lanes {
            true => spright::gateway::threads(env, Self::OPTIONS, Self::GATEWAY_POLLS),
            false => 1,
        };
        let spin_us = env.options.get(Self::OPTIONS, SPIN.key).unwrap_or("0").to_string();
        Ok(SkMsgHost { node, chain_id, entries: Vec::new(), sched, queues, gateway_queues, spin_us, pin_queues })
    }

    type Args = SkMsgArgs;
    type Transport = SkMsgSocket;

    fn connect(&self, c: &Connect<'_, SkMsgArgs>) -> Result<(SkMsgSocket, Pool), BoxError> {
        if c.args.sched == Sched::Batch && c.who != Who::Gateway {
            sched_batch()?;
        }
        let socks = (0..c.args.queues.max(1))
            .map(|i| c.who.take_fd(i).map(TcpStream::from))
            .collect::<std::io::Result<Vec<_>>>()?;
        // The gateway waits in its event loop; functions block in recv() on a socket of their
        // own, or, with several workers sharing one, in an exclusive epoll wait each.
        for s in &socks {
            s.set_nonblocking(c.who == Who::Gateway)?;
        }
        let shared = |id| socks.len() == 1 && c.chain.function(id).is_some_and(|f| f.workers > 1);
        let wait = match c.who {
            Who::Gateway => Wait::EventLoop,
            Who::Function(id) if shared(id) => Wait::Exclusive,
            Who::Function(_) => Wait::Recv,
        };
        let spin = Duration::from_micros(c.args.spin_us);
        let mut socket = SkMsgSocket::new(socks, wait, spin);
        if c.args.pin_queues && c.who != Who::Gateway {
            socket.queue_cpus = dataplane_api::Placement::allowed_here();
            if let (1, Some(cpu)) = (socket.socks.len(), nth_cpu(0, &socket.queue_cpus)) {
                // One worker, one queue: queue 0's CPU, for the process (its one worker).
                dataplane_api::placement::set_affinity(0, &[cpu])?;
            }
        }
        Ok((socket, Pool::open(c.pool)?))
    }
}

/// The chain's entries in the node's socket map, removed on drop.
pub struct SkMsgHost {
    node: Arc<Mutex<EbpfNode>>,
    chain_id: u16,
    entries: Vec<Entry>,
    /// Option `sched`, passed to every function.
    sched: String,
    /// Receive queues of each function (option `queues`).
    queues: HashMap<workloads::FnId, usize>,
    /// The gateway's receive queues: its lanes, one per HTTP thread with
    /// `gateway-queues=per-thread`.
    gateway_queues: usize,
    /// Option `spin-us`, passed to every process.
    spin_us: String,
    /// Option `worker-cpus=by-queue`, passed to every function.
    pin_queues: bool,
}

/// One registered process: its receive queues' sockets.
struct Entry {
    name: String,
    key: u32,
    ports: Vec<u16>,
    /// The other ends of the connections, held so that they stay up.
    _peers: Vec<TcpStream>,
}

impl SkMsgHost {
    fn node(&self) -> std::sync::MutexGuard<'_, EbpfNode> {
        self.node.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Host for SkMsgHost {
    /// A connected loopback TCP pair per receive queue: one end goes into the socket map and to
    /// the component, the other stays here. Called again for a component (a parked function),
    /// the new sockets replace the old ones under its key.
    fn component(&mut self, who: Who, name: &str) -> Result<(Vec<OwnedFd>, Vec<String>), DeployError> {
        let n = match who {
            Who::Gateway => self.gateway_queues,
            Who::Function(id) => self.queues.get(&id).copied().unwrap_or(1),
        };
        let pairs =
            (0..n).map(|_| tcp_pair()).collect::<std::io::Result<Vec<_>>>().map_err(DeployError::io("connect"))?;
        let ports = pairs.iter().map(|(a, _)| a.local_addr().map(|a| a.port())).collect::<std::io::Result<Vec<_>>>();
        let ports = ports.map_err(DeployError::io("address"))?;
        let k = key(self.chain_id, who.func());
        if let Some(i) = self.entries.iter().position(|e| e.key == k) {
            let old = self.entries.remove(i);
            self.node().unregister(old.key, &old.ports);
        }
        let sockets: Vec<&TcpStream> = pairs.iter().map(|(a, _)| a).collect();
        self.node().register(k, &sockets).map_err(DeployError::host(format!("register {name} in the socket map")))?;
        let (fds, peers): (Vec<OwnedFd>, Vec<TcpStream>) = pairs.into_iter().map(|(a, b)| (a.into(), b)).unzip();
        self.entries.push(Entry { name: name.to_string(), key: k, ports, _peers: peers });
        let mut args =
            vec![format!("--sched={}", self.sched), format!("--queues={n}"), format!("--spin-us={}", self.spin_us)];
        if self.pin_queues && who != Who::Gateway {
            args.push("--pin-queues".into());
        }
        Ok((fds, args))
    }

    /// A descriptor waiting for a process is in one of its sockets' receive queues: that socket
    /// polls readable.
    fn mailbox(&self) -> Option<usize> {
        Some(0)
    }

    fn counters(&self) -> Vec<Counter> {
        let node = self.node();
        let counter =
            |component: &str, name: &str, value| Counter { component: component.into(), name: name.into(), value };
        // The chain's security-domain id: the upper half of its socket-map keys.
        let mut out = vec![counter("node", "chain_id", self.chain_id as u64)];
        for e in &self.entries {
            if let Some((msgs, bytes)) = node.delivered(e.key) {
                out.push(counter(&e.name, "ebpf_messages", msgs));
                out.push(counter(&e.name, "ebpf_bytes", bytes));
            }
        }
        for reason in DropReason::ALL {
            out.push(counter("node", reason.counter(), node.dropped(reason)));
        }
        out
    }
}

impl Drop for SkMsgHost {
    fn drop(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        let mut node = self.node();
        for e in entries {
            node.unregister(e.key, &e.ports);
        }
    }
}

/// A connected loopback TCP pair: the first end is what goes into the socket map (the kernel
/// redirects only into established connections, so the second end must stay open).
pub fn tcp_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let a = TcpStream::connect(l.local_addr()?)?;
    let (b, _) = l.accept()?;
    Ok((a, b))
}

/// A process's socket-map sockets, one per receive queue. With the program attached, what it
/// sends never reaches the connection's peer: it is redirected to the destination's receive
/// queue, or dropped (an error here) when the destination is unknown, gone or in another chain.
/// With several queues, each function worker takes one of its own on first use: it receives on
/// it and sends on it, so no socket lock is shared between workers. The gateway's queues are its
/// lanes ([`Transport::lanes`]): its event loop's tasks migrate between threads, so a descriptor
/// goes out on the lane it comes back on, chosen by slot ([`spright::lane`]), not by thread.
pub struct SkMsgSocket {
    socks: Vec<TcpStream>,
    wait: Wait,
    /// How long a receiver polls for the next descriptor before it sleeps
    /// ([`SkMsgSocket::poll_for`]; the gateway's event loop polls itself).
    spin: Duration,
    /// The next queue a thread takes.
    next: AtomicUsize,
    /// Where the worker of each queue runs (option `worker-cpus=by-queue`): queue `i` on
    /// [`nth_cpu`]`(i, queue_cpus)`; empty, where its process may (not pinned).
    queue_cpus: Vec<usize>,
    /// Descriptors received on each gateway lane and not yet handed out ([`wire::recv_batch`]):
    /// kept per lane, not per thread as a function worker's are (`PENDING`), because a lane's
    /// receive task may run on any of the event loop's threads.
    lane_pending: Vec<Mutex<VecDeque<Descriptor>>>,
}

/// How [`SkMsgSocket::recv`] waits for a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Not at all: the gateway's event loop waits for its lanes to be readable.
    EventLoop,
    /// Blocked in `recv()`: a function with one worker, or one whose every worker has a
    /// socket of its own (`queues=per-worker`).
    Recv,
    /// Each worker in an epoll instance of its own that waits on the socket with
    /// EPOLLEXCLUSIVE. A TCP socket's blocking `recv()` waits non-exclusively, so every waiting
    /// worker woke for every descriptor and all but one went back to sleep: with 32 workers (the
    /// paper's count) a 5-function chain used 10x the CPU per request of one worker and
    /// saturated at 2,000 req/s on 2 cores (README, "Workers per function"). An exclusive wait
    /// wakes one idle worker per descriptor.
    Exclusive,
}

thread_local! {
    /// This worker's epoll instance for `Wait::Exclusive`, with the socket it waits on.
    static WAITER: std::cell::RefCell<Option<(RawFd, OwnedFd)>> = const { std::cell::RefCell::new(None) };
    /// This thread's receive queue: (the process's first socket, the queue's socket).
    static QUEUE: std::cell::Cell<Option<(RawFd, RawFd)>> = const { std::cell::Cell::new(None) };
    /// Descriptors this thread received in one batch and has not yet handed out (`Wait::Recv`).
    static PENDING: std::cell::RefCell<VecDeque<Descriptor>> = const { std::cell::RefCell::new(VecDeque::new()) };
    /// When this thread's last descriptors came, for `spin-us` ([`spright::Arrivals`]).
    static ARRIVALS: std::cell::Cell<spright::Arrivals> = const { std::cell::Cell::new(spright::Arrivals::new()) };
}

impl SkMsgSocket {
    fn new(socks: Vec<TcpStream>, wait: Wait, spin: Duration) -> Self {
        assert!(!socks.is_empty(), "a process has at least one socket");
        let lane_pending = socks.iter().map(|_| Mutex::default()).collect();
        SkMsgSocket { socks, wait, spin, next: AtomicUsize::new(0), queue_cpus: Vec::new(), lane_pending }
    }

    /// Receive on `fd` as this socket waits ([`Wait`]).
    fn wait(&self, fd: RawFd) -> std::io::Result<Option<Descriptor>> {
        match self.wait {
            Wait::EventLoop => wire::recv(fd, false),
            Wait::Recv => take(fd, true),
            Wait::Exclusive => loop {
                match wire::recv(fd, false) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait_exclusive(fd)?,
                    r => return r,
                }
            },
        }
    }

    /// Poll `fd` for up to `spin` for a descriptor, before the caller sleeps: one that arrives
    /// meanwhile is taken without a wake-up, and its sender, finding no sleeper on the socket,
    /// wakes nobody. The check is `poll()` with no timeout, which reads the socket's receive
    /// queue without its lock (a non-blocking `recv()` would take the lock the senders need);
    /// between checks the worker yields, so a sender waiting for this CPU runs first. Only
    /// after a short gap ([`spright::Arrivals`]). `Ok(None)`: nothing came.
    fn poll_for(&self, fd: RawFd) -> std::io::Result<Option<Option<Descriptor>>> {
        let until = Instant::now() + self.spin;
        loop {
            if spright::readable_now(fd) {
                let got = match self.wait {
                    Wait::Recv => take(fd, false),
                    _ => wire::recv(fd, false),
                };
                match got {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {} // another worker's
                    r => return r.map(Some),
                }
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            std::thread::yield_now();
        }
    }

    /// The socket the calling thread sends and receives on: its own queue's where there are
    /// several (taken on first use, round robin; the thread is then pinned to the queue's CPU
    /// with `worker-cpus=by-queue`), else the one.
    fn fd(&self) -> RawFd {
        let first = self.socks[0].as_raw_fd();
        if self.socks.len() == 1 {
            return first;
        }
        QUEUE.with(|q| match q.get() {
            Some((f, fd)) if f == first => fd,
            _ => {
                let i = self.next.fetch_add(1, Ordering::Relaxed) % self.socks.len();
                let fd = self.socks[i].as_raw_fd();
                if let Some(cpu) = nth_cpu(i, &self.queue_cpus) {
                    if let Err(e) = dataplane_api::placement::set_affinity(0, &[cpu]) {
                        tracing::warn!("cannot pin the worker of queue {i} to CPU {cpu}: {e}");
                    }
                }
                q.set(Some((first, fd)));
                fd
            }
        })
    }
}

/// The next descriptor on `fd` for a thread that receives on it alone (`Wait::Recv`): what its
/// last batch left, else a new batch ([`wire::recv_batch`]; with `wait`, waiting for one).
fn take(fd: RawFd, wait: bool) -> std::io::Result<Option<Descriptor>> {
    PENDING.with_borrow_mut(|p| {
        if p.is_empty() && !wire::recv_batch(fd, wait, p)? {
            return Ok(None);
        }
        Ok(p.pop_front())
    })
}

/// Block the calling thread until `fd` is readable, woken alone (EPOLLEXCLUSIVE) among the
/// threads waiting on it this way.
fn wait_exclusive(fd: RawFd) -> std::io::Result<()> {
    WAITER.with(|w| {
        let mut w = w.borrow_mut();
        let ep = match &*w {
            Some((f, ep)) if *f == fd => ep.as_raw_fd(),
            _ => {
                // SAFETY: plain syscall; the result is checked before use.
                let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
                if ep < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // SAFETY: a fresh descriptor we own.
                let ep = unsafe { OwnedFd::from_raw_fd(ep) };
                let mut ev = libc::epoll_event { events: (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32, u64: 0 };
                // SAFETY: valid descriptors and event.
                if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                w.insert((fd, ep)).1.as_raw_fd()
            }
        };
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: one valid out-slot; an interrupted wait returns to the caller, which retries.
        match unsafe { libc::epoll_wait(ep, &mut ev, 1, -1) } {
            n if n >= 0 => Ok(()),
            _ => match std::io::Error::last_os_error() {
                e if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
                e => Err(e),
            },
        }
    })
}

impl Transport for SkMsgSocket {
    fn send(&self, d: &Descriptor) -> std::io::Result<()> {
        let fd = match self.wait {
            Wait::EventLoop => self.socks[spright::lane(d.slot, self.socks.len())].as_raw_fd(),
            _ => self.fd(),
        };
        wire::send(fd, d)
    }

    /// A batch in one `sendmmsg` ([`wire::send_batch`]) on the worker's socket, or, for the
    /// gateway, on the lane of its slots (one by one where they are on several lanes).
    fn send_batch(&self, ds: &[Descriptor]) -> Result<(), (usize, std::io::Error)> {
        if self.wait != Wait::EventLoop {
            return wire::send_batch(self.fd(), ds);
        }
        let lane = |d: &Descriptor| spright::lane(d.slot, self.socks.len());
        let first = ds.first().map_or(0, lane);
        match ds.iter().all(|d| lane(d) == first) {
            true => wire::send_batch(self.socks[first].as_raw_fd(), ds),
            false => spright::send_each(self, ds),
        }
    }

    /// What [`Transport::recv`] gives, and whatever its receive brought with it.
    fn recv_batch(&self, out: &mut Vec<Descriptor>) -> std::io::Result<bool> {
        let Some(d) = self.recv()? else { return Ok(false) };
        out.push(d);
        PENDING.with_borrow_mut(|p| out.extend(p.drain(..)));
        Ok(true)
    }

    fn recv(&self) -> std::io::Result<Option<Descriptor>> {
        if let Some(d) = PENDING.with_borrow_mut(|p| p.pop_front()) {
            return Ok(Some(d));
        }
        let fd = self.fd();
        if self.spin.is_zero() || self.wait == Wait::EventLoop {
            return self.wait(fd);
        }
        let polled = match ARRIVALS.get().worth_polling(self.spin) {
            true => self.poll_for(fd)?,
            false => None,
        };
        let r = match polled {
            Some(r) => r,
            None => self.wait(fd)?,
        };
        ARRIVALS.with(|a| {
            let mut v = a.get();
            v.note(Instant::now());
            a.set(v)
        });
        Ok(r)
    }

    fn lanes(&self) -> Vec<RawFd> {
        self.socks.iter().map(|s| s.as_raw_fd()).collect()
    }

    fn recv_lane(&self, lane: usize) -> std::io::Result<Option<Descriptor>> {
        let mut pending = self.lane_pending[lane].lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_empty() && !wire::recv_batch(self.socks[lane].as_raw_fd(), false, &mut pending)? {
            return Ok(None);
        }
        Ok(pending.pop_front())
    }

    fn spin(&self) -> Duration {
        self.spin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Workers waiting exclusively on one socket take its descriptors between them, none lost
    /// or received twice, and every one of them sees the connection close (a close wakes all
    /// waiters, not one). A plain TCP pair stands in for the socket map: the wait is the
    /// socket's, whatever delivers into it.
    #[test]
    fn exclusive_workers_share_descriptors_and_all_see_the_close() {
        let (a, mut b) = tcp_pair().unwrap();
        let s = Arc::new(SkMsgSocket::new(vec![a], Wait::Exclusive, Duration::ZERO));
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let (s, tx) = (s.clone(), tx.clone());
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(d) = s.recv().unwrap() {
                    got.push(d.slot);
                }
                tx.send(got).unwrap();
            });
        }
        for slot in 0..200 {
            b.write_all(&Descriptor { dst: 1, src: 2, slot, gen: 0 }.to_bytes()).unwrap();
            if slot % 50 == 0 {
                std::thread::sleep(Duration::from_millis(5)); // let workers go back to waiting
            }
        }
        drop(b);
        let mut all: Vec<u32> = (0..4)
            .flat_map(|_| rx.recv_timeout(Duration::from_secs(10)).expect("a worker never saw the close"))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..200).collect::<Vec<u32>>());
    }

    /// The program spreads a destination's descriptors over its receive queues by slot: queue
    /// `slot % queues`, each in the order sent (expected lists written out by hand), and a
    /// destination with one queue gets everything. Real program, real socket map.
    #[test]
    fn descriptors_spread_over_receive_queues_by_slot() {
        let node = EbpfNode::shared().expect("load the SK_MSG program (root, BPF)");
        // A chain id of this test alone (the node is this test process's own).
        let (from, to, single) = (key(0xfff0, 1), key(0xfff0, 2), key(0xfff0, 3));
        let (sender, _s) = tcp_pair().unwrap();
        let queues: Vec<(TcpStream, TcpStream)> = (0..3).map(|_| tcp_pair().unwrap()).collect();
        let (one, _o) = tcp_pair().unwrap();
        for s in queues.iter().map(|(a, _)| a).chain([&one]) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
        {
            let mut n = node.lock().unwrap();
            n.register(from, &[&sender]).unwrap();
            n.register(to, &queues.iter().map(|(a, _)| a).collect::<Vec<_>>()).unwrap();
            n.register(single, &[&one]).unwrap();
        }
        for slot in 0..12 {
            wire::send(sender.as_raw_fd(), &Descriptor { dst: to, src: from, slot, gen: 0 }).unwrap();
            wire::send(sender.as_raw_fd(), &Descriptor { dst: single, src: from, slot, gen: 0 }).unwrap();
        }
        let expected = [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]];
        for ((q, _), want) in queues.iter().zip(expected) {
            let got: Vec<u32> = (0..4).map(|_| wire::recv(q.as_raw_fd(), true).unwrap().unwrap().slot).collect();
            assert_eq!(got, want);
            let more = wire::recv(q.as_raw_fd(), false);
            assert!(matches!(&more, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "{more:?}");
        }
        let got: Vec<u32> = (0..12).map(|_| wire::recv(one.as_raw_fd(), true).unwrap().unwrap().slot).collect();
        assert_eq!(got, (0..12).collect::<Vec<u32>>());
        let mut n = node.lock().unwrap();
        n.unregister(from, &[sender.local_addr().unwrap().port()]);
        let ports: Vec<u16> = queues.iter().map(|(a, _)| a.local_addr().unwrap().port()).collect();
        n.unregister(to, &ports);
        n.unregister(single, &[one.local_addr().unwrap().port()]);
    }

    /// A batch goes out with one system call per 32 descriptors, as one message each, each
    /// judged by the program on its own: of 70 sent, the 46th (slot 45) addressed to another
    /// chain, the first 45 arrive, in order, as 45 messages of 16 bytes (the program's count
    /// for the destination), and the batch stops at the refused one with the program's refusal
    /// (EACCES). Real program, real socket map.
    #[test]
    fn a_batch_goes_out_as_one_message_a_descriptor_and_stops_at_a_refused_one() {
        let node = EbpfNode::shared().expect("load the SK_MSG program (root, BPF)");
        let (from, to, foreign) = (key(0xfff2, 1), key(0xfff2, 2), key(0xfff9, 2));
        let ((sender, _s), (receiver, _r)) = (tcp_pair().unwrap(), tcp_pair().unwrap());
        receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        {
            let mut n = node.lock().unwrap();
            n.register(from, &[&sender]).unwrap();
            n.register(to, &[&receiver]).unwrap();
        }
        let ds: Vec<Descriptor> = (0..70)
            .map(|slot| Descriptor { dst: if slot == 45 { foreign } else { to }, src: from, slot, gen: 3 })
            .collect();
        let (n, e) = wire::send_batch(sender.as_raw_fd(), &ds).unwrap_err();
        assert_eq!((n, e.raw_os_error()), (45, Some(libc::EACCES)), "{e}");
        let mut got = VecDeque::new();
        while got.len() < 45 {
            assert!(wire::recv_batch(receiver.as_raw_fd(), true, &mut got).unwrap());
        }
        assert_eq!(got.iter().map(|d| d.slot).collect::<Vec<u32>>(), (0..45).collect::<Vec<u32>>());
        assert!(got.iter().all(|d| d.gen == 3 && d.src == from && d.dst == to));
        let more = wire::recv_batch(receiver.as_raw_fd(), false, &mut got);
        assert!(matches!(&more, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "{more:?}");
        let mut n = node.lock().unwrap();
        assert_eq!(n.delivered(to), Some((45, 45 * 16)), "one message per descriptor");
        n.unregister(from, &[sender.local_addr().unwrap().port()]);
        n.unregister(to, &[receiver.local_addr().unwrap().port()]);
    }

    /// A descriptor for a destination that is unknown, or gone (its socket closed, as when its
    /// process dies), goes unchanged to the gateway of the sender's chain, and the sender keeps
    /// sending: a dropped message would have failed every later send on its socket. Real
    /// program, real socket map.
    #[test]
    fn descriptors_for_a_gone_destination_go_to_the_gateway_and_the_sender_keeps_sending() {
        let node = EbpfNode::shared().expect("load the SK_MSG program (root, BPF)");
        let (gw, from, to, nobody) = (key(0xfff3, 0), key(0xfff3, 1), key(0xfff3, 2), key(0xfff3, 9));
        let ((gateway, _g), (sender, _s), (receiver, _r)) =
            (tcp_pair().unwrap(), tcp_pair().unwrap(), tcp_pair().unwrap());
        gateway.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let port = |s: &TcpStream| s.local_addr().unwrap().port();
        let ports = (port(&gateway), port(&sender), port(&receiver));
        {
            let mut n = node.lock().unwrap();
            n.register(gw, &[&gateway]).unwrap();
            n.register(from, &[&sender]).unwrap();
            n.register(to, &[&receiver]).unwrap();
        }
        let returned = || node.lock().unwrap().dropped(DropReason::ReturnedToGateway);
        let before = returned();
        let d = |dst, slot| Descriptor { dst, src: from, slot, gen: 5 };
        let (fd, gfd) = (sender.as_raw_fd(), gateway.as_raw_fd());
        wire::send(fd, &d(nobody, 1)).unwrap();
        assert_eq!(wire::recv(gfd, true).unwrap(), Some(d(nobody, 1)), "to the gateway, unchanged");
        wire::send(fd, &d(to, 2)).unwrap();
        assert_eq!(wire::recv(receiver.as_raw_fd(), true).unwrap(), Some(d(to, 2)), "the sender still sends");
        drop(receiver);
        for slot in [3, 4] {
            wire::send(fd, &d(to, slot)).unwrap();
            assert_eq!(wire::recv(gfd, true).unwrap(), Some(d(to, slot)), "its socket closed");
        }
        assert_eq!(returned() - before, 3);
        let mut n = node.lock().unwrap();
        n.unregister(gw, &[ports.0]);
        n.unregister(from, &[ports.1]);
        n.unregister(to, &[ports.2]);
    }

    /// A receiver takes every waiting descriptor in one call, up to the batch size, in the order
    /// sent: 40 sent, then batches of 32 and 8 (slots written out by hand), then nothing; a
    /// function worker alone on its socket receives so. Real program, real socket map.
    #[test]
    fn waiting_descriptors_are_received_in_one_batch() {
        let node = EbpfNode::shared().expect("load the SK_MSG program (root, BPF)");
        let (from, to) = (key(0xfff1, 1), key(0xfff1, 2));
        let ((sender, _s), (receiver, _r)) = (tcp_pair().unwrap(), tcp_pair().unwrap());
        receiver.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        {
            let mut n = node.lock().unwrap();
            n.register(from, &[&sender]).unwrap();
            n.register(to, &[&receiver]).unwrap();
        }
        for slot in 0..40 {
            wire::send(sender.as_raw_fd(), &Descriptor { dst: to, src: from, slot, gen: 7 }).unwrap();
        }
        let mut got = VecDeque::new();
        assert!(wire::recv_batch(receiver.as_raw_fd(), true, &mut got).unwrap());
        let first: Vec<u32> = got.drain(..).map(|d| d.slot).collect();
        assert_eq!(first, (0..32).collect::<Vec<u32>>(), "the first batch");
        assert!(wire::recv_batch(receiver.as_raw_fd(), false, &mut got).unwrap());
        assert_eq!(got.iter().map(|d| d.slot).collect::<Vec<u32>>(), [32, 33, 34, 35, 36, 37, 38, 39]);
        assert!(got.iter().all(|d| d.gen == 7 && d.src == from && d.dst == to));
        let more = wire::recv_batch(receiver.as_raw_fd(), false, &mut got);
        assert!(matches!(&more, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "{more:?}");
        // A function's worker alone on its socket receives that way: its first recv() empties
        // the socket, and the rest come from its batch, in order.
        let port = receiver.local_addr().unwrap().port();
        let (fd, worker) = (receiver.as_raw_fd(), SkMsgSocket::new(vec![receiver], Wait::Recv, Duration::ZERO));
        for slot in 40..60 {
            wire::send(sender.as_raw_fd(), &Descriptor { dst: to, src: from, slot, gen: 7 }).unwrap();
        }
        assert_eq!(worker.recv().unwrap().unwrap().slot, 40);
        assert!(!spright::readable_now(fd), "the first receive took every waiting descriptor");
        let rest: Vec<u32> = (0..19).map(|_| worker.recv().unwrap().unwrap().slot).collect();
        assert_eq!(rest, (41..60).collect::<Vec<u32>>());
        let mut n = node.lock().unwrap();
        n.unregister(from, &[sender.local_addr().unwrap().port()]);
        n.unregister(to, &[port]);
    }
}
