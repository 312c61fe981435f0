//! D-SPRIGHT (backend `d-spright`): the paper's polling dataplane, the contrast to S-SPRIGHT.
//!
//! Same gateway protocol and the same hugepage pool ([`shm`], [`shm::request`]) as S-SPRIGHT;
//! only the transport differs: each function (and the gateway) has a DPDK `rte_ring` of 16-byte
//! descriptors, and a thread busy-polls it. The gateway is the DPDK primary process (it creates
//! the rings, `--proc-type=primary`, a file prefix unique to the run, `--no-pci`); functions are
//! secondary processes that look the rings up. A poller uses a whole core whether or not there
//! is work: that is the point of the comparison.
//!
//! DPDK is bound through a small C shim (`sys/`), because the ring fast paths are `static
//! inline`; the crates.io `dpdk-sys` targets a much older DPDK and does not build against the
//! system's 22.11.

mod backend;
pub mod dpdk;
pub mod mempool;

pub use backend::{clean_stale, DSpright};
