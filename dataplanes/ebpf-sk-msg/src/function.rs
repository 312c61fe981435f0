//! A function process: worker threads blocked in `recv()` on the function's socket-map socket.

use crate::wire::{self, Recv};
use shm::{key, Descriptor, Pool, NO_NODE};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use workloads::{Chain, FnId, Handler, Step};

/// Slot status values the gateway understands.
pub const STATUS_OK: u16 = 0;
pub const STATUS_BODY_FULL: u16 = 1;
pub const STATUS_BAD_POSITION: u16 = 2;
pub const STATUS_NEXT_UNREACHABLE: u16 = 3;

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
        let idx = match self.pool.validate(&d, me) {
            Ok(i) => i,
            Err(e) => {
                let n = self.bad.fetch_add(1, Ordering::Relaxed);
                if n < 10 {
                    tracing::warn!("dropped a bad descriptor from {:#x}: {e}", d.src);
                }
                return;
            }
        };
        // SAFETY: validate() accepted the descriptor, so this process holds the slot until it
        // hands it over below, and this thread is the only one working on it.
        let (meta, mut body) = unsafe { self.pool.slot(idx) };
        let gateway = key(self.chain_id, 0);
        let dst = match self.chain.route(meta.route) {
            Some(route) if (meta.node as usize) < route.nodes.len() && route.node(meta.node).func == self.id => {
                let node = meta.node;
                let from = (meta.from != NO_NODE && (meta.from as usize) < route.nodes.len()).then_some(meta.from);
                let r = match from {
                    None => self.handler.on_request(&mut meta.state, &mut body),
                    Some(c) => self.handler.on_return(&mut meta.state, &mut body, route.node(c).func),
                };
                match r {
                    Err(_) => {
                        meta.status = STATUS_BODY_FULL;
                        gateway
                    }
                    Ok(()) => match route.next(node, from) {
                        Step::Call(c) | Step::TailCall(c) => {
                            meta.node = c;
                            meta.from = NO_NODE;
                            key(self.chain_id, route.node(c).func)
                        }
                        Step::Return(p) => {
                            meta.node = p;
                            meta.from = node;
                            key(self.chain_id, route.node(p).func)
                        }
                        Step::Reply => gateway,
                    },
                }
            }
            _ => {
                meta.status = STATUS_BAD_POSITION;
                gateway
            }
        };
        self.pool.hand_over(idx, dst);
        let next = Descriptor { dst, src: me, slot: idx, gen: d.gen };
        if let Err(e) = wire::send(self.socket.as_raw_fd(), &next, false) {
            // The next function is gone (its socket left the map): tell the gateway instead.
            tracing::warn!("cannot reach {dst:#x}: {e}");
            meta.status = STATUS_NEXT_UNREACHABLE;
            self.pool.hand_over(idx, gateway);
            let back = Descriptor { dst: gateway, ..next };
            if let Err(e) = wire::send(self.socket.as_raw_fd(), &back, false) {
                tracing::error!("cannot reach the gateway either: {e}");
            }
        }
    }
}
