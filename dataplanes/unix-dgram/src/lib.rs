//! Backend `u-spright`: the SPRIGHT protocol over plain unix datagram sockets, with the same
//! pool, gateway, function runtime and deployment as S-SPRIGHT and D-SPRIGHT ([`spright`]). It
//! is not in the paper: it is the floor that shows what the eBPF redirect buys over the kernel's
//! plainest local message passing, and the smallest example of a [`spright::Transport`].
//!
//! Every process owns one `SOCK_DGRAM` socket bound by the driver to an abstract address named
//! after the deployment and the process's key, passed to it as an inherited fd. Sending a
//! descriptor is one `sendto` to the destination's address; the receiver blocks in `recv()`, so
//! an idle chain uses no CPU. A destination that is not bound (unknown or gone) is an error at
//! the sender, which the protocol turns into a 502.
//!
//! The kernel queues at most `net.unix.max_dgram_qlen` datagrams per receiving socket and makes
//! a sender wait beyond that; with call trees, two functions waiting on each other's full queue
//! would deadlock. A chain never has more descriptors in flight than its pool has slots, so the
//! deployment requires the limit to exceed `pool_slots` (`scripts/setup.sh` raises it).
//!
//! Every send is one `sendmmsg`, and every receive one `recvmmsg`. With option `batch=on`, a
//! worker alone on its function's socket receives every waiting descriptor (up to
//! [`spright::BATCH`]) with one call and sends what they make with one, as S-SPRIGHT's workers
//! do; workers that share a socket still take one each, so that one does not take the work of
//! the others. It is off unless asked for because on 2 cores it cost more than it saved (see
//! [`BATCH`]).

use dataplane_api::{BackendOptions, DeployEnv, DeployError, OptionSpec};
use shm::{key, key_function, Descriptor, Pool, DESCRIPTOR_BYTES};
use spright::{Backend, BoxError, Connect, Host, Transport, Who};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use workloads::{Chain, FnId};

pub struct UnixDgram;

/// Option `batch`: whether a worker alone on its socket receives and sends in batches.
const BATCH: OptionSpec = OptionSpec::choice(
    "batch",
    "off (a worker receives and sends one descriptor per system call) or on (a worker alone on its socket takes every \
     waiting descriptor with one recvmmsg and sends what they make with one sendmmsg); on 2 cores, synthetic-5 at \
     40,000 req/s, on raised the median 1.3-1.6x and saved no CPU (README, \"u-spright\")",
    &["off", "on"],
);

/// The `u-spright` backend.
pub static U_SPRIGHT: spright::Spright<UnixDgram> = spright::Spright(UnixDgram);

const QLEN: &str = "/proc/sys/net/unix/max_dgram_qlen";

/// The abstract socket name of the process with `key` in deployment `ns`.
fn name(ns: &str, key: u32) -> String {
    format!("spright-bench/{ns}/{key:08x}")
}

fn address(ns: &str, key: u32) -> std::io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(name(ns, key))
}

/// The same address as the kernel takes it in `sendmmsg`'s headers.
#[derive(Clone, Copy)]
struct RawAddr {
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl RawAddr {
    // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
    const NONE: RawAddr = RawAddr { addr: unsafe { std::mem::zeroed() }, len: 0 };

    fn abstract_name(name: &str) -> std::io::Result<RawAddr> {
        // SAFETY: sockaddr_un is plain data; all zeroes is a valid value.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        // An abstract name: a NUL, then the name's bytes (no terminator).
        if name.len() >= addr.sun_path.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("socket name too long: {name}")));
        }
        for (to, b) in addr.sun_path[1..].iter_mut().zip(name.bytes()) {
            *to = b as libc::c_char;
        }
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + 1 + name.len();
        Ok(RawAddr { addr, len: len as libc::socklen_t })
    }
}

#[derive(clap::Args)]
pub struct UnixArgs {
    /// The deployment's namespace in the abstract socket names.
    #[arg(long)]
    ns: String,
    /// Option `batch=on`.
    #[arg(long)]
    batch: bool,
}

impl Backend for UnixDgram {
    const NAME: &str = "u-spright";
    const LABEL: &str = "SPRIGHT over plain unix datagram sockets (a floor beside SK_MSG, not in the paper), payload in a hugepage pool, event-driven";
    const OPTIONS: &[OptionSpec] = &[BATCH, spright::relay::RUNTIME];

    /// The host's datagram queue length against the chain's pool.
    fn check(&self, chain: &Chain, _options: &BackendOptions) -> Result<(), DeployError> {
        let qlen: u32 = std::fs::read_to_string(QLEN).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        if qlen <= chain.pool_slots {
            return Err(DeployError::Unsupported(format!(
                "{QLEN} is {qlen}: u-spright needs it above the chain's pool_slots ({}), or functions waiting \
                 on each other's full queues could deadlock; run scripts/setup.sh (or sysctl -w \
                 net.unix.max_dgram_qlen={})",
                chain.pool_slots,
                (chain.pool_slots + 1).next_power_of_two()
            )));
        }
        Ok(())
    }

    type Host = UnixHost;

    fn setup(&self, _chain: &Chain, chain_id: u16, env: &DeployEnv) -> Result<UnixHost, DeployError> {
        let batch = env.options.is(Self::OPTIONS, &BATCH, "on");
        Ok(UnixHost { ns: format!("{}-{chain_id}", std::process::id()), chain_id, batch })
    }

    type Args = UnixArgs;
    type Transport = UnixSocket;

    fn connect(&self, c: &Connect<'_, UnixArgs>) -> Result<(UnixSocket, Pool), BoxError> {
        let sock = UnixDatagram::from(c.who.take_fd(0)?);
        sock.set_nonblocking(c.who == Who::Gateway)?;
        let mut peers = HashMap::new();
        for id in std::iter::once(0).chain(c.chain.functions.iter().map(|f| f.id)) {
            peers.insert(id, RawAddr::abstract_name(&name(&c.args.ns, key(c.chain_id, id)))?);
        }
        let alone = match c.who {
            Who::Function(id) => c.args.batch && c.chain.function(id).is_some_and(|f| f.workers <= 1),
            Who::Gateway => false,
        };
        Ok((UnixSocket { sock, peers, batch: if alone { spright::BATCH } else { 1 } }, Pool::open(c.pool)?))
    }
}

/// Nothing to undo: the abstract names go with the sockets.
pub struct UnixHost {
    ns: String,
    chain_id: u16,
    /// Option `batch=on`, passed to every function.
    batch: bool,
}

impl Host for UnixHost {
    fn component(&mut self, who: Who, _name: &str) -> Result<(Vec<OwnedFd>, Vec<String>), DeployError> {
        let addr = address(&self.ns, key(self.chain_id, who.func())).map_err(DeployError::io("socket name"))?;
        let sock = UnixDatagram::bind_addr(&addr).map_err(DeployError::io("bind a unix datagram socket"))?;
        let mut args = vec![format!("--ns={}", self.ns)];
        args.extend(self.batch.then(|| "--batch".to_string()));
        Ok((vec![sock.into()], args))
    }
}

pub struct UnixSocket {
    sock: UnixDatagram,
    /// The address of every process of the chain, by function id.
    peers: HashMap<FnId, RawAddr>,
    /// The most descriptors one receive takes: [`spright::BATCH`] for a worker alone on its
    /// socket with `batch=on`, 1 otherwise.
    batch: usize,
}

impl UnixSocket {
    /// Receive up to `max` descriptors with one `recvmmsg`, waiting for the first as the socket
    /// waits (blocking, or `WouldBlock` for the gateway's), and append them to `out`.
    fn recv_into(&self, out: &mut Vec<Descriptor>, max: usize) -> std::io::Result<()> {
        const MAX: usize = spright::BATCH;
        // One byte more than a descriptor, to tell a longer datagram from one.
        let mut bufs = [[0u8; DESCRIPTOR_BYTES + 1]; MAX];
        let mut iovs: [libc::iovec; MAX] = std::array::from_fn(|i| libc::iovec {
            iov_base: bufs[i].as_mut_ptr().cast(),
            iov_len: DESCRIPTOR_BYTES + 1,
        });
        // SAFETY: mmsghdr is plain data; all zeroes is a valid value.
        let mut msgs: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
        for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
        }
        loop {
            // SAFETY: `msgs` has MAX headers, each pointing at a live buffer of the stated
            // length. MSG_WAITFORONE: wait for the first, take the rest that wait.
            let n = unsafe {
                libc::recvmmsg(
                    self.sock.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    max.clamp(1, MAX) as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let before = out.len();
            for (m, b) in msgs.iter().zip(&bufs).take(n as usize) {
                match m.msg_len as usize {
                    DESCRIPTOR_BYTES => {
                        let d: [u8; DESCRIPTOR_BYTES] = b[..DESCRIPTOR_BYTES].try_into().expect("16 bytes");
                        out.push(Descriptor::from_bytes(d));
                    }
                    len => tracing::warn!("dropped a {len}-byte datagram: not a descriptor"),
                }
            }
            if out.len() > before {
                return Ok(());
            }
        }
    }
}

impl Transport for UnixSocket {
    fn send(&self, d: &Descriptor) -> std::io::Result<()> {
        self.send_batch(std::slice::from_ref(d)).map_err(|(_, e)| e)
    }

    /// One `sendmmsg` for the batch, each datagram to its own destination; a destination
    /// missing from the chain stops the batch there, as one the kernel refuses does.
    fn send_batch(&self, ds: &[Descriptor]) -> Result<(), (usize, std::io::Error)> {
        const MAX: usize = spright::BATCH;
        // On the stack: a send costs no allocation.
        let mut bytes = [[0u8; DESCRIPTOR_BYTES]; MAX];
        let mut addrs = [RawAddr::NONE; MAX];
        let mut iovs = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MAX];
        // SAFETY: mmsghdr is plain data; all zeroes is a valid value.
        let mut msgs: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
        let mut sent = 0;
        while sent < ds.len() {
            let mut n = 0;
            for d in ds[sent..].iter().take(MAX) {
                let Some(a) = self.peers.get(&key_function(d.dst)) else { break };
                (bytes[n], addrs[n]) = (d.to_bytes(), *a);
                n += 1;
            }
            if n == 0 {
                return Err((sent, std::io::ErrorKind::NotFound.into()));
            }
            for i in 0..n {
                iovs[i] = libc::iovec { iov_base: bytes[i].as_mut_ptr().cast(), iov_len: DESCRIPTOR_BYTES };
                let h = &mut msgs[i].msg_hdr;
                h.msg_name = (&mut addrs[i].addr as *mut libc::sockaddr_un).cast();
                h.msg_namelen = addrs[i].len;
                h.msg_iov = &mut iovs[i];
                h.msg_iovlen = 1;
            }
            // SAFETY: the first `n` headers point at live addresses and live 16-byte buffers.
            let r = unsafe { libc::sendmmsg(self.sock.as_raw_fd(), msgs.as_mut_ptr(), n as libc::c_uint, 0) };
            if r < 0 {
                return Err((sent, std::io::Error::last_os_error()));
            }
            // Fewer than asked: the next call reports why the first of the rest failed.
            sent += r as usize;
        }
        Ok(())
    }

    fn recv(&self) -> std::io::Result<Option<Descriptor>> {
        let mut one = Vec::with_capacity(1);
        self.recv_into(&mut one, 1)?;
        Ok(one.pop())
    }

    fn recv_batch(&self, out: &mut Vec<Descriptor>) -> std::io::Result<bool> {
        self.recv_into(out, self.batch).map(|()| true)
    }

    fn lanes(&self) -> Vec<RawFd> {
        vec![self.sock.as_raw_fd()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    /// 40 descriptors sent as one batch reach a worker alone on its socket in order, 32 with its
    /// first receive (the most one takes) and 8 with the next. A batch stops at a process of the
    /// chain that is not bound (refused) and at one outside the chain (not found), the
    /// descriptors before it delivered. Workers that share a socket take one at a time.
    #[test]
    fn a_batch_goes_out_and_comes_in_with_one_call() {
        let ns = format!("test-{}", std::process::id());
        let bound = |id| UnixDatagram::bind_addr(&address(&ns, key(1, id)).unwrap()).unwrap();
        let peers: HashMap<FnId, RawAddr> =
            [1, 2, 3].map(|id| (id, RawAddr::abstract_name(&name(&ns, key(1, id))).unwrap())).into();
        let sender = UnixSocket { sock: bound(1), peers: peers.clone(), batch: spright::BATCH };
        let receiver = UnixSocket { sock: bound(2), peers, batch: spright::BATCH };
        let to = |id, slot| Descriptor { dst: key(1, id), src: key(1, 1), slot, gen: 7 };
        let slots = |ds: &[Descriptor]| ds.iter().map(|d| d.slot).collect::<Vec<u32>>();

        sender.send_batch(&(0..40).map(|s| to(2, s)).collect::<Vec<_>>()).unwrap();
        let mut got = Vec::new();
        assert!(receiver.recv_batch(&mut got).unwrap());
        assert_eq!(slots(&got), (0..32).collect::<Vec<u32>>(), "the first batch");
        assert!(receiver.recv_batch(&mut got).unwrap());
        assert_eq!(slots(&got), (0..40).collect::<Vec<u32>>(), "and the rest");
        assert!(got.iter().all(|d| d.gen == 7 && d.src == key(1, 1) && d.dst == key(1, 2)));

        let (n, e) = sender.send_batch(&[to(2, 40), to(2, 41), to(3, 42), to(2, 43)]).unwrap_err();
        assert_eq!((n, e.kind()), (2, ErrorKind::ConnectionRefused), "function 3 is not bound");
        let (n, e) = sender.send_batch(&[to(2, 44), to(9, 45)]).unwrap_err();
        assert_eq!((n, e.kind()), (1, ErrorKind::NotFound), "function 9 is not in the chain");

        let shared = UnixSocket { batch: 1, ..receiver };
        got.clear();
        assert!(shared.recv_batch(&mut got).unwrap());
        assert_eq!(slots(&got), [40]);
        assert_eq!(shared.recv().unwrap().map(|d| d.slot), Some(41));
        assert_eq!(shared.recv().unwrap().map(|d| d.slot), Some(44));
        shared.sock.set_nonblocking(true).unwrap();
        let none = shared.recv_batch(&mut got);
        assert!(matches!(&none, Err(e) if e.kind() == ErrorKind::WouldBlock), "{none:?}");
    }
}
