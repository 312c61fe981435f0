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

use dataplane_api::{BackendOptions, DeployEnv, DeployError};
use shm::{key, key_function, Descriptor, Pool, DESCRIPTOR_BYTES};
use spright::{Backend, BoxError, Connect, Host, Transport, Who};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use workloads::{Chain, FnId};

pub struct UnixDgram;

/// The `u-spright` backend.
pub static U_SPRIGHT: spright::Spright<UnixDgram> = spright::Spright(UnixDgram);

const QLEN: &str = "/proc/sys/net/unix/max_dgram_qlen";

/// The abstract socket name of the process with `key` in deployment `ns`.
fn address(ns: &str, key: u32) -> std::io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(format!("spright-bench/{ns}/{key:08x}"))
}

#[derive(clap::Args)]
pub struct UnixArgs {
    /// The deployment's namespace in the abstract socket names.
    #[arg(long)]
    ns: String,
}

impl Backend for UnixDgram {
    const NAME: &str = "u-spright";
    const LABEL: &str = "SPRIGHT over plain unix datagram sockets (a floor beside SK_MSG, not in the paper), payload in a hugepage pool, event-driven";
    const OPTIONS: &[dataplane_api::OptionSpec] = &[spright::relay::RUNTIME];

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

    fn setup(&self, _chain: &Chain, chain_id: u16, _env: &DeployEnv) -> Result<UnixHost, DeployError> {
        Ok(UnixHost { ns: format!("{}-{chain_id}", std::process::id()), chain_id })
    }

    type Args = UnixArgs;
    type Transport = UnixSocket;

    fn connect(&self, c: &Connect<'_, UnixArgs>) -> Result<(UnixSocket, Pool), BoxError> {
        let sock = UnixDatagram::from(c.who.take_fd(0)?);
        sock.set_nonblocking(c.who == Who::Gateway)?;
        let mut peers = HashMap::new();
        for id in std::iter::once(0).chain(c.chain.functions.iter().map(|f| f.id)) {
            peers.insert(id, address(&c.args.ns, key(c.chain_id, id))?);
        }
        Ok((UnixSocket { sock, peers }, Pool::open(c.pool)?))
    }
}

/// Nothing to undo: the abstract names go with the sockets.
pub struct UnixHost {
    ns: String,
    chain_id: u16,
}

impl Host for UnixHost {
    fn component(&mut self, who: Who, _name: &str) -> Result<(Vec<OwnedFd>, Vec<String>), DeployError> {
        let addr = address(&self.ns, key(self.chain_id, who.func())).map_err(DeployError::io("socket name"))?;
        let sock = UnixDatagram::bind_addr(&addr).map_err(DeployError::io("bind a unix datagram socket"))?;
        Ok((vec![sock.into()], vec![format!("--ns={}", self.ns)]))
    }
}

pub struct UnixSocket {
    sock: UnixDatagram,
    /// The address of every process of the chain, by function id.
    peers: HashMap<FnId, SocketAddr>,
}

impl Transport for UnixSocket {
    fn send(&self, d: &Descriptor) -> std::io::Result<()> {
        let to = self.peers.get(&key_function(d.dst)).ok_or(std::io::ErrorKind::NotFound)?;
        self.sock.send_to_addr(&d.to_bytes(), to).map(drop)
    }

    fn recv(&self) -> std::io::Result<Option<Descriptor>> {
        let mut b = [0u8; DESCRIPTOR_BYTES + 1];
        loop {
            match self.sock.recv(&mut b)? {
                DESCRIPTOR_BYTES => {
                    let d: [u8; DESCRIPTOR_BYTES] = b[..DESCRIPTOR_BYTES].try_into().expect("16 bytes");
                    return Ok(Some(Descriptor::from_bytes(d)));
                }
                n => tracing::warn!("dropped a {n}-byte datagram: not a descriptor"),
            }
        }
    }

    fn lanes(&self) -> Vec<RawFd> {
        vec![self.sock.as_raw_fd()]
    }
}
