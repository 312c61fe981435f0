//! The S-SPRIGHT gateway: HTTP in, one copy into the pool, descriptors out and back.

use crate::wire::{self, Recv};
use bytes::Bytes;
use dataplane_api::gateway::{Dispatch, GatewayError, Waiters};
use shm::{key, request, Descriptor, Pool};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use workloads::Route;

type Reply = Result<Vec<u8>, GatewayError>;

pub struct SkMsgDispatch {
    pub chain_id: u16,
    pub pool: Arc<Pool>,
    pub socket: Arc<AsyncFd<OwnedFd>>,
    /// Requests waiting for their slot; a timed-out one is abandoned and its slot freed when
    /// the descriptor comes back, the first moment that is safe.
    pub waiters: Waiters,
    pub timeout: Duration,
}

impl SkMsgDispatch {
    fn me(&self) -> u32 {
        key(self.chain_id, 0)
    }

    async fn send(&self, d: &Descriptor) -> std::io::Result<()> {
        loop {
            let mut guard = self.socket.writable().await?;
            match wire::send(self.socket.get_ref().as_raw_fd(), d, true) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => guard.clear_ready(),
                r => return r,
            }
        }
    }

    /// Receive descriptors coming back from the chain and complete their requests.
    pub async fn receive_loop(self: Arc<Self>) -> std::io::Result<()> {
        loop {
            let mut guard = self.socket.readable().await?;
            loop {
                match wire::recv(self.socket.get_ref().as_raw_fd(), true)? {
                    Recv::Desc(d) => self.complete(d),
                    Recv::Empty => {
                        guard.clear_ready();
                        break;
                    }
                    Recv::Closed => return Ok(()),
                }
            }
        }
    }

    fn complete(&self, d: Descriptor) {
        let Ok(slot) = self.pool.validate(&d, self.me()) else {
            tracing::warn!("dropped a bad descriptor from {:#x}", d.src);
            return;
        };
        self.waiters
            .complete(slot, d.gen, || request::finish(&self.pool, slot).map_err(|m| GatewayError::Upstream(m.into())));
    }
}

impl Dispatch for SkMsgDispatch {
    async fn dispatch(&self, route: &Route, body: Bytes) -> Reply {
        let me = self.me();
        let a = request::admit(&self.pool, self.chain_id, route, &body).map_err(|e| match e {
            request::AdmitError::TooLarge { .. } => GatewayError::TooLarge(e.to_string()),
            request::AdmitError::Exhausted { .. } => GatewayError::NoCapacity(e.to_string()),
        })?;
        let (idx, gen, dst) = (a.slot, a.gen, a.dst);
        let rx = self.waiters.register(idx, gen);
        if let Err(e) = self.send(&Descriptor { dst, src: me, slot: idx, gen }).await {
            self.waiters.forget(idx);
            self.pool.hand_over(idx, me);
            self.pool.free(idx);
            return Err(GatewayError::Upstream(format!("cannot reach function {}: {e}", route.node(0).func)));
        }
        self.waiters.wait(idx, rx, self.timeout).await
    }
}
