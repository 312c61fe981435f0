//! S-SPRIGHT (backend `s-spright`): the paper's event-driven dataplane.
//!
//! A gateway copies each HTTP request once into a slot of the chain's hugepage pool
//! ([`shm::Pool`]) and sends a 16-byte [`shm::Descriptor`] on its socket. An SK_MSG program
//! ([`node`], `bpf/sk_msg.bpf.c`) redirects it into the destination function's socket, where a
//! worker thread blocked in `recv()` wakes, validates the descriptor against the pool, runs the
//! workloads handler on the slot in place, and sends the next descriptor (next function, back
//! to the caller, or back to the gateway). Nothing polls: an idle chain uses no CPU.
//!
//! Every process is started by the driver with its socket already connected and registered in
//! the SOCKHASH (passed as an inherited fd), so no `pidfd_getfd` and no start-order race.

mod backend;
mod function;
mod gateway;
pub mod node;
mod wire;

pub use backend::SSpright;
