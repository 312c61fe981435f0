//! S-SPRIGHT (backend `s-spright`): the paper's event-driven dataplane.
//!
//! The SPRIGHT protocol, gateway, function runtime and deployment are the shared ones of the
//! [`spright`] crate; this crate is the transport. Every process of a chain (the gateway and
//! each function) owns a loopback TCP socket in a SOCKHASH, keyed by its key. A process sends
//! a 16-byte [`shm::Descriptor`] on its own socket; the SK_MSG program ([`node`],
//! `bpf/sk_msg.bpf.c`) reads the destination key and redirects the message into that socket's
//! receive queue, where a worker blocked in `recv()` wakes. Nothing polls: an idle chain uses
//! no CPU (option `spin-us` lets a receiver poll its socket briefly before it sleeps, trading
//! CPU for wake-ups under load; it still sleeps once the chain is idle). With option
//! `queues=per-worker` a function has a socket per worker and the program spreads its
//! descriptors over them by slot, so that no socket lock is shared between workers (the kernel
//! locks the destination socket for every redirected message); `gateway-queues=per-thread` does
//! the same for the gateway's HTTP threads.
//!
//! Every socket is created, connected and registered by the driver and passed to its process
//! as an inherited fd, so no `pidfd_getfd` and no start-order race.

pub mod node;
mod transport;
mod wire;

pub use transport::{sched_batch, tcp_pair, SkMsg};

/// The `s-spright` backend.
pub static S_SPRIGHT: spright::Spright<SkMsg> = spright::Spright(SkMsg);
