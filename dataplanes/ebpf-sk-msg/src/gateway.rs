//! The S-SPRIGHT gateway: HTTP in, one copy into the pool, descriptors out and back.

use crate::wire::{self, Recv};
use bytes::Bytes;
use dataplane_api::gateway::{Dispatch, GatewayError};
use shm::{key, request, Descriptor, Pool};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;
use workloads::Route;

type Reply = Result<Vec<u8>, GatewayError>;
/// Slot -> (generation, the request waiting for it).
type Pending = Mutex<HashMap<u32, (u32, oneshot::Sender<Reply>)>>;

pub struct SkMsgDispatch {
    pub chain_id: u16,
    pub pool: Arc<Pool>,
    pub socket: Arc<AsyncFd<OwnedFd>>,
    /// Slot -> (generation, waiting request). A request that timed out is removed here; its
    /// slot is freed when its descriptor comes back, the first moment that is safe.
    pub pending: Arc<Pending>,
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
        let waiter = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&slot);
        let reply = request::finish(&self.pool, slot).map_err(|m| GatewayError::Upstream(m.into()));
        if let Some((gen, tx)) = waiter {
            if gen == d.gen {
                let _ = tx.send(reply);
            }
        }
    }
}

impl Dispatch for SkMsgDispatch {
    async fn dispatch(&self, route: &Route, body: Bytes) -> Reply {
        let me = self.me();
        let a = request::admit(&self.pool, self.chain_id, route, &body, monotonic_ns()).map_err(|e| match e {
            request::AdmitError::TooLarge { .. } => GatewayError::TooLarge(e.to_string()),
            request::AdmitError::Exhausted { .. } => GatewayError::NoCapacity(e.to_string()),
        })?;
        let (idx, gen, dst) = (a.slot, a.gen, a.dst);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(idx, (gen, tx));
        if let Err(e) = self.send(&Descriptor { dst, src: me, slot: idx, gen }).await {
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&idx);
            self.pool.hand_over(idx, me);
            self.pool.free(idx);
            return Err(GatewayError::Upstream(format!("cannot reach function {}: {e}", route.node(0).func)));
        }
        match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(GatewayError::Upstream("request dropped".into())),
            Err(_) => {
                // Abandon the request; its slot is freed when (if) the descriptor returns.
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&idx);
                Err(GatewayError::Timeout(self.timeout.as_millis() as u64))
            }
        }
    }
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
