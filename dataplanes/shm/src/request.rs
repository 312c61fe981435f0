//! The request protocol over a pool, shared by both SPRIGHT transports (SK_MSG and rte_ring):
//! how the gateway admits a request into a slot, how a function advances it along its route,
//! and how the gateway turns the returned slot into a reply. Only *how* a descriptor travels
//! differs between the two dataplanes; everything here is the same code for both.
//!
//! Every function here works on a slot the caller holds (it allocated it, or [`Pool::validate`]
//! accepted a descriptor for it), and ends by handing the slot to the next holder.

use crate::{key, Pool, NO_NODE};
use workloads::{render_reply, Body, Chain, FnId, Handler, Route, State, Step};

/// Slot status: how the request stands when it comes back to the gateway.
pub const STATUS_OK: u16 = 0;
pub const STATUS_BODY_FULL: u16 = 1;
pub const STATUS_BAD_POSITION: u16 = 2;
pub const STATUS_NEXT_UNREACHABLE: u16 = 3;

/// What a failed status means, for the client's 502.
pub fn status_message(status: u16) -> &'static str {
    match status {
        STATUS_BODY_FULL => "a function's result does not fit in a pool slot",
        STATUS_BAD_POSITION => "a function got a request for a route position that is not its own",
        STATUS_NEXT_UNREACHABLE => "the next function of the chain is unreachable",
        _ => "unknown failure",
    }
}

/// A request in the pool, ready to be sent to its first function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub slot: u32,
    pub gen: u32,
    /// Key of the first function.
    pub dst: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("body of {len} bytes exceeds the pool slot capacity {capacity}")]
    TooLarge { len: usize, capacity: usize },
    #[error("pool of {slots} slots exhausted")]
    Exhausted { slots: u32 },
}

/// Gateway: copy `body` into a fresh slot for `route` and hand it to the route's first function.
pub fn admit(pool: &Pool, chain_id: u16, route: &Route, body: &[u8]) -> Result<Admitted, AdmitError> {
    if body.len() > pool.body_capacity() {
        return Err(AdmitError::TooLarge { len: body.len(), capacity: pool.body_capacity() });
    }
    let (slot, gen) = pool.alloc(key(chain_id, 0)).ok_or(AdmitError::Exhausted { slots: pool.slots() })?;
    {
        // SAFETY: we just allocated the slot and hold it until the hand-over below.
        let (meta, mut b) = unsafe { pool.slot(slot) };
        meta.route = route.id;
        meta.node = 0;
        meta.from = NO_NODE;
        meta.status = STATUS_OK;
        meta.admitted_ns = monotonic_ns();
        meta.state = State::new(route.id);
        b.set(body).expect("size checked against the slot capacity");
    }
    let dst = key(chain_id, route.node(0).func);
    pool.hand_over(slot, dst);
    Ok(Admitted { slot, gen, dst })
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Function `func`: run the handler on the request in `slot`, move it to its next position on
/// the route, hand it over, and return the key it must be sent to.
pub fn advance(pool: &Pool, chain: &Chain, chain_id: u16, func: FnId, handler: &dyn Handler, slot: u32) -> u32 {
    // SAFETY: the caller holds the slot (see the module docs) until the hand-over below.
    let (meta, mut body) = unsafe { pool.slot(slot) };
    let gateway = key(chain_id, 0);
    let dst = match chain.route(meta.route) {
        Some(route) if (meta.node as usize) < route.nodes.len() && route.node(meta.node).func == func => {
            let node = meta.node;
            let from = (meta.from != NO_NODE && (meta.from as usize) < route.nodes.len()).then_some(meta.from);
            let r = match from {
                None => handler.on_request(&mut meta.state, &mut body),
                Some(c) => handler.on_return(&mut meta.state, &mut body, route.node(c).func),
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
                        key(chain_id, route.node(c).func)
                    }
                    Step::Return(p) => {
                        meta.node = p;
                        meta.from = node;
                        key(chain_id, route.node(p).func)
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
    pool.hand_over(slot, dst);
    dst
}

/// Function: the send to the next holder failed; give the slot back to the gateway instead,
/// marked as failed, and return the gateway's key.
pub fn bounce(pool: &Pool, chain_id: u16, slot: u32) -> u32 {
    // SAFETY: the send failed, so nobody else received the slot; the caller still holds it.
    let (meta, _) = unsafe { pool.slot(slot) };
    meta.status = STATUS_NEXT_UNREACHABLE;
    let gateway = key(chain_id, 0);
    pool.hand_over(slot, gateway);
    gateway
}

/// Gateway: the request in `slot` came back; render the reply (or the failure) and free the slot.
pub fn finish(pool: &Pool, slot: u32) -> Result<Vec<u8>, &'static str> {
    let out = {
        // SAFETY: the caller validated the returning descriptor and holds the slot.
        let (meta, body) = unsafe { pool.slot(slot) };
        match meta.status {
            STATUS_OK => Ok(render_reply(&meta.state, body.bytes())),
            s => Err(status_message(s)),
        }
    };
    pool.free(slot);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole protocol in one process: admit, advance through every visit of a call tree,
    /// finish; the reply equals the reference execution's.
    #[test]
    fn protocol_matches_reference_execution() {
        let chain = workloads::load_chain(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workloads/chains/call-tree.toml"),
        )
        .unwrap();
        let pool = Pool::anonymous(4, 4096 + 64).unwrap();
        let handlers: Vec<(FnId, Box<dyn Handler>)> =
            chain.functions.iter().map(|f| (f.id, f.handler.build(f.id))).collect();
        for route in &chain.routes {
            let a = admit(&pool, 7, route, b"body").unwrap();
            let mut dst = a.dst;
            let mut hops = 0;
            while crate::key_function(dst) != 0 {
                let f = crate::key_function(dst);
                let d = crate::Descriptor { dst, src: 0, slot: a.slot, gen: a.gen };
                let slot = pool.validate(&d, dst).unwrap();
                let h = &handlers.iter().find(|(id, _)| *id == f).unwrap().1;
                dst = advance(&pool, &chain, 7, f, h.as_ref(), slot);
                hops += 1;
            }
            assert_eq!(hops, route.visits().len());
            let reply = finish(&pool, a.slot).unwrap();
            assert_eq!(reply, workloads::reference::execute(&chain, route, b"body").unwrap());
        }
        assert_eq!(pool.free_count(), 4);
        let big = vec![0u8; 5000];
        assert!(matches!(admit(&pool, 7, &chain.routes[0], &big), Err(AdmitError::TooLarge { .. })));
    }
}
