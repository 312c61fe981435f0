//! A function process: worker threads blocked in `recv()` on the function's socket-map socket.

use crate::wire::{self, Recv};
use shm::{key, request, Descriptor, Pool};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use workloads::{Chain, FnId, Handler};

pub struct Function {
    pub chain: Arc<Chain>,
    pub chain_id: u16,
    pub id: FnId,
    pub pool: Pool,
    pub socket: OwnedFd,
    pub handler: Box<dyn Handler>,
    pub bad: AtomicU64,
}

impl Function {
    fn me(&self) -> u32 {
        key(self.chain_id, self.id)
    }

    /// Serve forever on `workers` threads (the calling thread is one of them).
    pub fn serve(self: Arc<Self>, workers: usize) -> std::io::Result<()> {
        for w in 1..workers {
            let f = self.clone();
            std::thread::Builder::new().name(format!("worker-{w}")).spawn(move || f.worker())?;
        }
        self.worker()
    }

    fn worker(&self) -> std::io::Result<()> {
        let fd = self.socket.as_raw_fd();
        loop {
            match wire::recv(fd, false)? {
                Recv::Desc(d) => self.handle(d),
                Recv::Closed => return Ok(()),
                Recv::Empty => {}
            }
        }
    }

    fn handle(&self, d: Descriptor) {
        let me = self.me();
        let slot = match self.pool.validate(&d, me) {
            Ok(i) => i,
            Err(e) => {
                let n = self.bad.fetch_add(1, Ordering::Relaxed);
                if n < 10 {
                    tracing::warn!("dropped a bad descriptor from {:#x}: {e}", d.src);
                }
                return;
            }
        };
        let dst = request::advance(&self.pool, &self.chain, self.chain_id, self.id, self.handler.as_ref(), slot);
        let next = Descriptor { dst, src: me, slot, gen: d.gen };
        if let Err(e) = wire::send(self.socket.as_raw_fd(), &next, false) {
            // The next function is gone (its socket left the map): tell the gateway instead.
            tracing::warn!("cannot reach {dst:#x}: {e}");
            let back = Descriptor { dst: request::bounce(&self.pool, self.chain_id, slot), ..next };
            if let Err(e) = wire::send(self.socket.as_raw_fd(), &back, false) {
                tracing::error!("cannot reach the gateway either: {e}");
            }
        }
    }
}
