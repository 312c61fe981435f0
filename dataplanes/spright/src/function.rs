//! A function process: `workers` threads, each receiving descriptors, validating each against the
//! pool, running the handler on the slot in place, and sending the next descriptors, those of a
//! received batch together ([`crate::serve_batches`]). How a worker waits (blocked in `recv()`,
//! or polling a ring) is the transport's business.

use crate::gateway::warn_bad;
use crate::protocol;
use crate::Transport;
use shm::{Descriptor, Pool};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use workloads::{Chain, Handler};

pub struct Function<T> {
    chain: Arc<Chain>,
    /// This function's key.
    me: u32,
    pool: Pool,
    transport: T,
    handler: Box<dyn Handler>,
    bad: AtomicU64,
}

impl<T: Transport> Function<T> {
    pub fn new(chain: Arc<Chain>, me: u32, pool: Pool, transport: T, handler: Box<dyn Handler>) -> Self {
        Function { chain, me, pool, transport, handler, bad: AtomicU64::new(0) }
    }

    /// Serve until the transport closes, on `workers` threads (the calling thread is one).
    pub fn serve(self: Arc<Self>, workers: usize) -> std::io::Result<()> {
        for w in 1..workers {
            let f = self.clone();
            std::thread::Builder::new().name(format!("worker-{w}")).spawn(move || f.worker())?;
        }
        self.worker()
    }

    fn worker(&self) -> std::io::Result<()> {
        crate::serve_batches(
            &self.transport,
            crate::SEND_WITHIN,
            |d| self.handle(d),
            |next, e| self.unreachable(next, e),
        )
    }

    /// The descriptor to send for `d`, once its handler has run; `None` for one that is not
    /// valid here.
    fn handle(&self, d: Descriptor) -> Option<Descriptor> {
        if let Err(e) = self.pool.validate(&d, self.me) {
            warn_bad(&self.bad, &d, &e);
            return None;
        }
        Some(protocol::advance(&self.pool, &self.chain, self.me, self.handler.as_ref(), &d))
    }

    /// The next function is gone: tell the gateway instead.
    fn unreachable(&self, next: Descriptor, e: std::io::Error) {
        tracing::warn!("cannot reach {:#x}: {e}", next.dst);
        if let Err(e) = self.transport.send(&protocol::bounce(&self.pool, &next)) {
            tracing::error!("cannot reach the gateway either: {e}");
        }
    }
}
