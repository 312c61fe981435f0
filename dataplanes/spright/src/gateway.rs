//! The SPRIGHT gateway: HTTP in ([`dataplane_api::gateway`]), one copy into the pool,
//! descriptors out, and every returning descriptor matched to the request waiting for it.
//!
//! Dispatch is the sequence the gateway race fixed earlier was about, written once: admit,
//! register the waiter, send; if the send fails, forget the waiter *before* withdrawing (and
//! freeing) the slot, so a request that gets the freed slot at once never meets this one's entry.

use crate::protocol;
use crate::{Transport, Waiters};
use bytes::Bytes;
use dataplane_api::gateway::{Dispatch, GatewayError};
use shm::{gateway_key, key_function, Descriptor, Pool};
use std::io::ErrorKind;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use workloads::{Reply, Route, State};

pub struct Gateway<T> {
    chain_id: u16,
    pool: Pool,
    /// Where the event loop waits for the transport ([`Transport::readiness_fd`]), if it can.
    /// Declared before `transport`, so it is deregistered before the transport closes the fd.
    ready: Option<AsyncFd<RawFd>>,
    transport: T,
    /// Requests waiting for their slot; a timed-out one is abandoned and its slot freed when
    /// the descriptor comes back, the first moment that is safe.
    waiters: Waiters,
    timeout: Duration,
    bad: AtomicU64,
}

impl<T: Transport> Gateway<T> {
    /// A gateway for chain `chain_id`. Where the transport has a readiness descriptor, this must
    /// run inside the gateway's runtime (it registers the descriptor with it).
    pub fn new(chain_id: u16, pool: Pool, transport: T, timeout: Duration) -> std::io::Result<Self> {
        // SAFETY: the descriptor belongs to `transport`, which lives in the same struct and is
        // dropped after `ready` (field order), so it stays open while it is registered.
        let ready = transport
            .readiness_fd()
            .map(|fd| unsafe { AsyncFd::register(fd) }.map_err(|e| e.into_parts().1))
            .transpose()?;
        Ok(Gateway { chain_id, pool, transport, ready, waiters: Waiters::default(), timeout, bad: AtomicU64::new(0) })
    }

    /// Whether returning descriptors are received in the event loop ([`Gateway::receive`]) or
    /// on a thread of their own ([`Gateway::receive_blocking`]).
    pub fn in_event_loop(&self) -> bool {
        self.ready.is_some()
    }

    async fn send(&self, d: &Descriptor) -> std::io::Result<()> {
        let Some(fd) = &self.ready else { return self.transport.send(d) };
        loop {
            let mut guard = fd.writable().await?;
            match self.transport.send(d) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => guard.clear_ready(),
                r => return r,
            }
        }
    }

    /// Receive returning descriptors in the event loop until the transport closes.
    pub async fn receive(self: Arc<Self>) -> std::io::Result<()> {
        let fd = self.ready.as_ref().expect("a transport with a readiness descriptor");
        loop {
            let mut guard = fd.readable().await?;
            loop {
                match self.transport.recv() {
                    Ok(Some(d)) => self.complete(d),
                    Ok(None) => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        guard.clear_ready();
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Receive returning descriptors on the calling thread until the transport closes.
    pub fn receive_blocking(&self) -> std::io::Result<()> {
        crate::receive_each(&self.transport, |d| self.complete(d))
    }

    fn complete(&self, d: Descriptor) {
        match self.pool.validate(&d, gateway_key(self.chain_id)) {
            Ok(slot) => self.waiters.complete(slot, d.gen, || {
                protocol::finish(&self.pool, slot).map_err(|m| GatewayError::Upstream(m.into()))
            }),
            Err(e) => warn_bad(&self.bad, &d, &e),
        }
    }
}

/// Log a rejected descriptor (the first ten of a process; the pool counts all of them).
pub(crate) fn warn_bad(count: &AtomicU64, d: &Descriptor, e: &shm::BadDescriptor) {
    if count.fetch_add(1, Ordering::Relaxed) < 10 {
        tracing::warn!("dropped a bad descriptor from {:#x}: {e}", d.src);
    }
}

impl<T: Transport> Dispatch for Gateway<T> {
    async fn dispatch(&self, route: &Route, state: State, body: Bytes) -> Result<Reply, GatewayError> {
        let d = protocol::admit(&self.pool, self.chain_id, route, state, &body)?;
        let rx = self.waiters.register(d.slot, d.gen);
        if let Err(e) = self.send(&d).await {
            self.waiters.forget(d.slot);
            protocol::withdraw(&self.pool, &d);
            return Err(GatewayError::Upstream(format!("cannot reach function {}: {e}", key_function(d.dst))));
        }
        self.waiters.wait(d.slot, rx, self.timeout).await
    }
}
