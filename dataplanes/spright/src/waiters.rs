//! Requests waiting at a SPRIGHT gateway for their slot to come back from the chain.

use dataplane_api::gateway::GatewayError;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::oneshot;

type Reply = Result<workloads::Reply, GatewayError>;
/// A slot's waiter: the generation it waits for, and where its reply goes.
type Entry = Option<(u32, oneshot::Sender<Reply>)>;

/// Requests waiting for their pool slot to come back from the chain (the shared-memory
/// backends), one entry per slot, checked by generation. A request that times out is
/// abandoned: its entry goes, and the transport frees the slot when the descriptor finally
/// returns. Each slot has a lock of its own, so the gateway's HTTP threads and receivers never
/// wait for each other here (one map behind one lock was taken twice per request by all of
/// them).
pub struct Waiters {
    slots: Box<[Mutex<Entry>]>,
}

impl Waiters {
    /// Waiters for a pool of `slots` slots.
    pub fn new(slots: u32) -> Self {
        Waiters { slots: (0..slots).map(|_| Mutex::new(None)).collect() }
    }

    /// `slot`'s entry; `None` for a slot outside the pool (never for a slot the pool handed
    /// out or validated).
    fn lock(&self, slot: u32) -> Option<MutexGuard<'_, Entry>> {
        self.slots.get(slot as usize).map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Start waiting for `slot` (generation `gen`).
    pub fn register(&self, slot: u32, gen: u32) -> oneshot::Receiver<Reply> {
        let (tx, rx) = oneshot::channel();
        if let Some(mut e) = self.lock(slot) {
            *e = Some((gen, tx));
        }
        rx
    }

    /// Stop waiting for `slot` (the request timed out).
    fn forget(&self, slot: u32) {
        if let Some(mut e) = self.lock(slot) {
            *e = None;
        }
    }

    /// The slot came back. Whoever waits for this generation of it is taken off the list
    /// *before* `finish` runs (`finish` renders the reply and frees the slot), so a new request
    /// that gets the freed slot at once can never meet this one's entry.
    pub fn complete(&self, slot: u32, gen: u32, finish: impl FnOnce() -> Reply) {
        let waiter = self.lock(slot).and_then(|mut e| match &*e {
            Some((g, _)) if *g == gen => e.take().map(|(_, tx)| tx),
            _ => None,
        });
        let reply = finish();
        if let Some(tx) = waiter {
            let _ = tx.send(reply);
        }
    }

    /// Wait up to `timeout` for the reply registered with [`Waiters::register`].
    pub async fn wait(&self, slot: u32, rx: oneshot::Receiver<Reply>, timeout: std::time::Duration) -> Reply {
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(GatewayError::Upstream("request dropped".into())),
            Err(_) => {
                self.forget(slot);
                Err(GatewayError::Timeout(timeout.as_millis() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 4, found by CI): the d-spright gateway's poller freed a slot before
    /// removing its waiter, so an HTTP thread that re-allocated the slot at once registered over
    /// the old entry, and both requests failed with 502 "request dropped".
    #[test]
    fn a_slot_reused_during_finish_keeps_its_new_waiter() {
        let w = Waiters::new(8);
        let mut first = w.register(0, 1);
        let mut second = None;
        w.complete(0, 1, || {
            // `finish` freed slot 0 and another request took it straight away.
            second = Some(w.register(0, 2));
            Ok(reply(b"one"))
        });
        assert_eq!(first.try_recv().unwrap().unwrap(), reply(b"one"));
        let mut second = second.unwrap();
        assert!(matches!(second.try_recv(), Err(oneshot::error::TryRecvError::Empty)), "new waiter dropped");
        w.complete(0, 2, || Ok(reply(b"two")));
        assert_eq!(second.try_recv().unwrap().unwrap(), reply(b"two"));
    }

    fn reply(body: &[u8]) -> workloads::Reply {
        workloads::Reply { status: 200, body: body.to_vec() }
    }

    /// A slot the pool never hands out: nobody waits for it, nothing panics.
    #[test]
    fn a_slot_outside_the_pool_is_nobody_s() {
        let w = Waiters::new(2);
        let mut rx = w.register(5, 1);
        assert!(matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Closed)));
        w.complete(5, 1, || Ok(reply(b"")));
        w.forget(5);
    }

    #[test]
    fn a_stale_generation_completes_nobody() {
        let w = Waiters::new(8);
        let mut rx = w.register(3, 7);
        w.complete(3, 6, || Ok(reply(b"")));
        assert!(matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)));
    }
}
