//! D-SPRIGHT (backend `d-spright`): the paper's polling dataplane, the contrast to S-SPRIGHT.
//!
//! The SPRIGHT protocol, gateway, function runtime and deployment are the shared ones of the
//! [`spright`] crate, over the same hugepage pool as S-SPRIGHT; this crate is the transport:
//! each function (and the gateway) has a DPDK `rte_ring` of 16-byte descriptors, and its
//! workers busy-poll it ([`transport`]). A poller uses a whole core whether or not there is
//! work: that is the point of the comparison.
//!
//! DPDK is bound through a small C shim (`sys/`), because the ring fast paths are `static
//! inline`; the crates.io `dpdk-sys` targets a much older DPDK and does not build against the
//! system's 22.11.

pub mod dpdk;
pub mod mempool;
pub mod transport;

pub use transport::{clean_stale, Dpdk};

/// The `d-spright` backend.
pub static D_SPRIGHT: spright::Spright<Dpdk> = spright::Spright(Dpdk);
