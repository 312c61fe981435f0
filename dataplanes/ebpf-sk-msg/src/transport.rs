//! The SK_MSG transport: one socket-map socket per process (driver side: [`SkMsgHost`]; process
//! side: [`SkMsgSocket`]).

use crate::node::{DropReason, EbpfNode};
use crate::wire;
use dataplane_api::{Counter, DeployEnv, DeployError, OptionSpec};
use shm::{key, Descriptor, Pool};
use spright::{Backend, BoxError, Connect, Host, Transport, Who};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
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

impl Backend for SkMsg {
    const NAME: &str = "s-spright";
    const LABEL: &str = "S-SPRIGHT: 16-byte descriptors via eBPF SK_MSG redirect in a SOCKHASH, payload in a hugepage pool, event-driven";

    const OPTIONS: &[OptionSpec] = &[OptionSpec::choice(
        "sched",
        "how function workers are scheduled: normal (the kernel's default) or batch (SCHED_BATCH: a woken worker does not preempt its sender, so descriptors batch up on a shared core)",
        &["normal", "batch"],
    )];

    type Host = SkMsgHost;

    fn setup(&self, _chain: &Chain, chain_id: u16, env: &DeployEnv) -> Result<SkMsgHost, DeployError> {
        let node = EbpfNode::shared().map_err(DeployError::host("load the SK_MSG program"))?;
        let sched = env.options.get(Self::OPTIONS, "sched").unwrap_or("normal").to_string();
        Ok(SkMsgHost { node, chain_id, entries: Vec::new(), sched })
    }

    type Args = SkMsgArgs;
    type Transport = SkMsgSocket;

    fn connect(&self, c: &Connect<'_, SkMsgArgs>) -> Result<(SkMsgSocket, Pool), BoxError> {
        if c.args.sched == Sched::Batch && c.who != Who::Gateway {
            sched_batch()?;
        }
        let sock = TcpStream::from(c.who.take_fd(0)?);
        // The gateway waits for it in its event loop; functions block in recv(), or, with
        // several workers, in an exclusive epoll wait each (see `SkMsgSocket`).
        sock.set_nonblocking(c.who == Who::Gateway)?;
        let wait = match c.who {
            Who::Gateway => Wait::EventLoop,
            Who::Function(id) if c.chain.function(id).is_some_and(|f| f.workers > 1) => Wait::Exclusive,
            Who::Function(_) => Wait::Recv,
        };
        Ok((SkMsgSocket { sock, wait }, Pool::open(c.pool)?))
    }
}

/// The chain's entries in the node's socket map, removed on drop.
pub struct SkMsgHost {
    node: Arc<Mutex<EbpfNode>>,
    chain_id: u16,
    entries: Vec<Entry>,
    /// Option `sched`, passed to every function.
    sched: String,
}

/// One registered socket.
struct Entry {
    name: String,
    key: u32,
    port: u16,
    /// The other end of the connection, held so that it stays up.
    _peer: TcpStream,
}

impl SkMsgHost {
    fn node(&self) -> std::sync::MutexGuard<'_, EbpfNode> {
        self.node.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Host for SkMsgHost {
    /// A connected loopback TCP pair: one end goes into the socket map and to the component, the
    /// other stays here. Called again for a component (a parked function), the new socket
    /// replaces the old one under its key.
    fn component(&mut self, who: Who, name: &str) -> Result<(Vec<OwnedFd>, Vec<String>), DeployError> {
        let l = TcpListener::bind("127.0.0.1:0").map_err(DeployError::io("bind"))?;
        let a = TcpStream::connect(l.local_addr().map_err(DeployError::io("address"))?)
            .map_err(DeployError::io("connect"))?;
        let (b, _) = l.accept().map_err(DeployError::io("accept"))?;
        let k = key(self.chain_id, who.func());
        let port = a.local_addr().map_err(DeployError::io("address"))?.port();
        if let Some(i) = self.entries.iter().position(|e| e.key == k) {
            let old = self.entries.remove(i);
            self.node().unregister(old.key, old.port);
        }
        self.node().register(k, &a).map_err(DeployError::host(format!("register {name} in the socket map")))?;
        self.entries.push(Entry { name: name.to_string(), key: k, port, _peer: b });
        Ok((vec![a.into()], vec![format!("--sched={}", self.sched)]))
    }

    /// A descriptor waiting for a process is in its socket's receive queue: the socket polls
    /// readable.
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
            node.unregister(e.key, e.port);
        }
    }
}

/// A process's socket-map socket. With the program attached, what it sends never reaches the
/// connection's peer: it is redirected to the destination's receive queue, or dropped (an error
/// here) when the destination is unknown, gone or in another chain.
pub struct SkMsgSocket {
    sock: TcpStream,
    wait: Wait,
}

/// How [`SkMsgSocket::recv`] waits for a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Not at all: the gateway's event loop waits for the socket to be readable.
    EventLoop,
    /// Blocked in `recv()`: a function with one worker.
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
        wire::send(self.sock.as_raw_fd(), d)
    }

    fn recv(&self) -> std::io::Result<Option<Descriptor>> {
        let fd = self.sock.as_raw_fd();
        match self.wait {
            Wait::EventLoop => wire::recv(fd, false),
            Wait::Recv => wire::recv(fd, true),
            Wait::Exclusive => loop {
                match wire::recv(fd, false) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait_exclusive(fd)?,
                    r => return r,
                }
            },
        }
    }

    fn readiness_fd(&self) -> Option<RawFd> {
        Some(self.sock.as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    /// Workers waiting exclusively on one socket take its descriptors between them, none lost
    /// or received twice, and every one of them sees the connection close (a close wakes all
    /// waiters, not one). A plain TCP pair stands in for the socket map: the wait is the
    /// socket's, whatever delivers into it.
    #[test]
    fn exclusive_workers_share_descriptors_and_all_see_the_close() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        let s = Arc::new(SkMsgSocket { sock: a, wait: Wait::Exclusive });
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
}
