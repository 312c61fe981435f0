//! The eBPF side of S-SPRIGHT on this node: the SK_MSG program, its SOCKHASH and counters.
//!
//! One program and one set of maps serve every chain deployed by this driver process, so that
//! chains really are security domains inside one socket map (a descriptor addressed to another
//! chain is dropped in the kernel). The node is shared through [`EbpfNode::shared`] and detached
//! when the last deployment using it is gone: aya detaches the program and closes the maps when
//! the `Ebpf` object drops, and sockets leave the SOCKHASH when they are closed, so a crashed
//! run leaves nothing pinned behind (nothing is pinned at all).
//!
//! Minimum kernel: 5.10 (see `bpf/sk_msg.bpf.c`).

use aya::maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap, PerCpuValues, SockHash};
use aya::programs::SkMsg;
use aya::Ebpf;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, Weak};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sk_msg.bpf.o"));

/// Name of the program, as `bpftool prog` shows it (truncated to 15 characters by the kernel).
pub const PROGRAM_NAME: &str = "spright_redirect";

/// `struct spright_counter` of `bpf/spright_counters.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct BpfCounter {
    msgs: u64,
    bytes: u64,
}

// SAFETY: plain repr(C) integers, no padding.
unsafe impl aya::Pod for BpfCounter {}

/// Why the program did not deliver a message where it names (index into its `drops` array,
/// `enum spright_drop`): dropped, or returned to the sender's gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    CrossChain = 0,
    /// Not exactly one descriptor (shorter or longer).
    BadSize = 1,
    /// The destination is unknown or gone, and so is its chain's gateway.
    UnknownDestination = 2,
    UnknownSender = 3,
    /// Not dropped: the destination is unknown or gone (its process died), so the descriptor
    /// went to its chain's gateway, which fails the request at once.
    ReturnedToGateway = 4,
}

impl DropReason {
    pub const ALL: [DropReason; 5] = [
        DropReason::CrossChain,
        DropReason::BadSize,
        DropReason::UnknownDestination,
        DropReason::UnknownSender,
        DropReason::ReturnedToGateway,
    ];

    /// The name of its counter in `counters.csv`.
    pub fn counter(self) -> &'static str {
        match self {
            DropReason::CrossChain => "ebpf_dropped_cross_chain",
            DropReason::BadSize => "ebpf_dropped_bad_size",
            DropReason::UnknownDestination => "ebpf_dropped_unknown_destination",
            DropReason::UnknownSender => "ebpf_dropped_unknown_sender",
            DropReason::ReturnedToGateway => "ebpf_returned_to_gateway",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error("load eBPF object: {0} (needs root, a kernel with BPF and SOCKMAP: see `spright-bench env`)")]
    Load(#[from] aya::EbpfError),
    #[error("eBPF program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    #[error("eBPF map: {0}")]
    Map(#[from] aya::maps::MapError),
    #[error("eBPF object lacks {0}")]
    Missing(&'static str),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub struct EbpfNode {
    /// Receive-queue sockets under `queue << 32 | key`.
    socks: SockHash<MapData, u64>,
    /// Keys with more than one receive queue -> how many.
    queues: HashMap<MapData, u32, u32>,
    chain_of_port: HashMap<MapData, u32, u32>,
    delivered: PerCpuHashMap<MapData, u32, BpfCounter>,
    drops: PerCpuArray<MapData, u64>,
    // Dropped last: detaches the program.
    _bpf: Ebpf,
}

impl EbpfNode {
    fn load() -> Result<Self, EbpfError> {
        let mut bpf = Ebpf::load(OBJECT)?;
        let socks: SockHash<MapData, u64> = bpf.take_map("socks").ok_or(EbpfError::Missing("map socks"))?.try_into()?;
        let queues = bpf.take_map("queues").ok_or(EbpfError::Missing("map queues"))?.try_into()?;
        let chain_of_port = bpf.take_map("chain_of_port").ok_or(EbpfError::Missing("map chain_of_port"))?.try_into()?;
        let delivered = bpf.take_map("delivered").ok_or(EbpfError::Missing("map delivered"))?.try_into()?;
        let drops = bpf.take_map("drops").ok_or(EbpfError::Missing("map drops"))?.try_into()?;
        let prog: &mut SkMsg = bpf.program_mut(PROGRAM_NAME).ok_or(EbpfError::Missing("program"))?.try_into()?;
        prog.load()?;
        prog.attach(socks.fd())?;
        Ok(EbpfNode { socks, queues, chain_of_port, delivered, drops, _bpf: bpf })
    }

    /// The node of this process, loading and attaching the program on first use.
    pub fn shared() -> Result<Arc<Mutex<EbpfNode>>, EbpfError> {
        static NODE: Mutex<Weak<Mutex<EbpfNode>>> = Mutex::new(Weak::new());
        let mut slot = NODE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = slot.upgrade() {
            return Ok(n);
        }
        let n = Arc::new(Mutex::new(EbpfNode::load()?));
        *slot = Arc::downgrade(&n);
        Ok(n)
    }

    /// Put `sockets` (connected loopback TCP sockets) into the map as the receive queues of
    /// `key`, one or more; descriptors for `key` are spread over them by slot.
    pub fn register(&mut self, key: u32, sockets: &[&std::net::TcpStream]) -> Result<(), EbpfError> {
        let nr = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        self.delivered.insert(key, PerCpuValues::try_from(vec![BpfCounter::default(); nr])?, 0)?;
        for (queue, socket) in sockets.iter().enumerate() {
            let port = socket.local_addr()?.port() as u32;
            self.chain_of_port.insert(port, shm::key_chain(key) as u32, 0)?;
            self.socks.insert(queue_key(key, queue), socket.as_raw_fd(), 0)?;
        }
        match sockets.len() {
            0 | 1 => drop(self.queues.remove(&key)),
            n => self.queues.insert(key, n as u32, 0)?,
        }
        Ok(())
    }

    /// Forget a key, its receive queues and their sockets' ports (the sockets themselves leave
    /// the map when closed).
    pub fn unregister(&mut self, key: u32, ports: &[u16]) {
        let _ = self.queues.remove(&key);
        for (queue, port) in ports.iter().enumerate() {
            let _ = self.socks.remove(&queue_key(key, queue));
            let _ = self.chain_of_port.remove(&(*port as u32));
        }
        let _ = self.delivered.remove(&key);
    }

    /// Messages and bytes the program delivered to `key`, summed over CPUs.
    pub fn delivered(&self, key: u32) -> Option<(u64, u64)> {
        let v = self.delivered.get(&key, 0).ok()?;
        Some(v.iter().fold((0, 0), |(m, b), c| (m + c.msgs, b + c.bytes)))
    }

    /// Messages the program dropped for `reason`, over all chains of this node.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(&(reason as u32), 0).map(|v| v.iter().sum()).unwrap_or(0)
    }
}

/// Where receive queue `queue` of `key` is in the socket map.
fn queue_key(key: u32, queue: usize) -> u64 {
    (queue as u64) << 32 | key as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        fn spright_counter_size() -> usize;
        fn spright_counter_off_msgs() -> usize;
        fn spright_counter_off_bytes() -> usize;
        fn spright_drop_kinds() -> u32;
        fn spright_drop_value(i: u32) -> u32;
    }

    /// The structs the program writes and the driver reads agree between C and Rust.
    #[test]
    fn c_and_rust_agree_on_the_counters() {
        // SAFETY: the probe functions only return constants.
        unsafe {
            assert_eq!(spright_counter_size(), std::mem::size_of::<BpfCounter>());
            assert_eq!(spright_counter_off_msgs(), std::mem::offset_of!(BpfCounter, msgs));
            assert_eq!(spright_counter_off_bytes(), std::mem::offset_of!(BpfCounter, bytes));
            assert_eq!(spright_drop_kinds() as usize, DropReason::ALL.len());
            for (i, r) in DropReason::ALL.iter().enumerate() {
                assert_eq!(spright_drop_value(i as u32), *r as u32, "{r:?}");
            }
        }
    }
}
