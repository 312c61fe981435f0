//! The request protocol over a pool, the same for every transport: how the gateway admits a
//! request into a slot, how a function advances it along its route, how a failed send is rolled
//! back, and how the gateway turns the returned slot into a reply.
//!
//! Descriptors travel as a type end to end: [`admit`], [`advance`] and [`bounce`] return the
//! [`Descriptor`] to send next, so a transport only moves it. Every function here works on a
//! slot the caller holds (it allocated it, or [`Pool::validate`] accepted a descriptor for it),
//! and ends by handing the slot to the next holder.

use shm::{gateway_key, key, key_chain, key_function, Descriptor, Pool, NO_NODE};
use workloads::{render_reply, visit, Body, Chain, Handler, Reply, Route, State, Step};

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("body of {len} bytes exceeds the pool slot capacity {capacity}")]
    TooLarge { len: usize, capacity: usize },
    #[error("pool of {slots} slots exhausted")]
    Exhausted { slots: u32 },
}

impl From<AdmitError> for dataplane_api::gateway::GatewayError {
    fn from(e: AdmitError) -> Self {
        match e {
            AdmitError::TooLarge { .. } => Self::TooLarge(e.to_string()),
            AdmitError::Exhausted { .. } => Self::NoCapacity(e.to_string()),
        }
    }
}

/// Gateway of chain `chain_id`: copy `body` into a fresh slot for `route` with the request's
/// initial `state` (as [`workloads::State::new`] plus what the gateway parsed), hand the slot to
/// the route's first function, and return the descriptor to send it. The slot comes from the
/// pool's free list `stripe` while it has one ([`Pool::alloc_in`]: a gateway event loop per
/// lane takes the slots of its own lane).
pub fn admit(
    pool: &Pool,
    chain_id: u16,
    route: &Route,
    state: State,
    body: &[u8],
    stripe: u32,
) -> Result<Descriptor, AdmitError> {
    if body.len() > pool.body_capacity() {
        return Err(AdmitError::TooLarge { len: body.len(), capacity: pool.body_capacity() });
    }
    let me = gateway_key(chain_id);
    let (slot, gen) = pool.alloc_in(me, stripe).ok_or(AdmitError::Exhausted { slots: pool.slots() })?;
    {
        // SAFETY: we just allocated the slot and hold it until the hand-over below.
        let (meta, mut b) = unsafe { pool.slot(slot) };
        meta.route = route.id;
        meta.node = 0;
        meta.from = NO_NODE;
        meta.status = STATUS_OK;
        meta.admitted_ns = monotonic_ns();
        meta.state = state;
        b.set(body).expect("size checked against the slot capacity");
    }
    let dst = key(chain_id, route.node(0).func);
    pool.hand_over(slot, dst);
    Ok(Descriptor { dst, src: me, slot, gen })
}

/// Gateway: the descriptor [`admit`] returned could not be sent; take the slot back and free it.
/// (The caller forgets its waiter first: see [`crate::Waiters::complete`].)
pub fn withdraw(pool: &Pool, d: &Descriptor) {
    pool.take_back(d.slot, d.src);
    pool.free(d.slot);
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Function `me` (a key): run its handler on the request `d` names (validated for `me`), move
/// the request to its next position on the route, hand the slot over, and return the
/// descriptor to send it on.
pub fn advance(pool: &Pool, chain: &Chain, me: u32, handler: &dyn Handler, d: &Descriptor) -> Descriptor {
    let (chain_id, func) = (key_chain(me), key_function(me));
    // SAFETY: the caller holds the slot (see the module docs) until the hand-over below.
    let (meta, mut body) = unsafe { pool.slot(d.slot) };
    let gateway = gateway_key(chain_id);
    let dst = match chain.route(meta.route) {
        Some(route) if (meta.node as usize) < route.nodes.len() && route.node(meta.node).func == func => {
            let node = meta.node;
            let from = (meta.from != NO_NODE && (meta.from as usize) < route.nodes.len()).then_some(meta.from);
            match visit(route, node, from, handler, &mut meta.state, &mut body) {
                Err(_) => {
                    meta.status = STATUS_BODY_FULL;
                    gateway
                }
                Ok(step) => match step {
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
    pool.hand_over(d.slot, dst);
    Descriptor { dst, src: me, slot: d.slot, gen: d.gen }
}

/// Function: sending `d` (from [`advance`]) failed; give the slot to the gateway instead,
/// marked as failed, and return the descriptor that tells it.
pub fn bounce(pool: &Pool, d: &Descriptor) -> Descriptor {
    // SAFETY: the send failed, so nobody else received the slot; the caller still holds it.
    let (meta, _) = unsafe { pool.slot(d.slot) };
    meta.status = STATUS_NEXT_UNREACHABLE;
    let gateway = gateway_key(key_chain(d.src));
    pool.hand_over(d.slot, gateway);
    Descriptor { dst: gateway, ..*d }
}

/// Gateway: `d` came back undelivered, unchanged, because the process it names is gone (the
/// S-SPRIGHT program returns such a descriptor to the sender's gateway rather than drop it).
/// Claim the slot as its destination would have and mark the request failed; then
/// [`finish`] it. The pool's checks apply as to any descriptor: only a slot in transit to
/// `d.dst` with `d`'s generation is taken.
pub fn undelivered(pool: &Pool, d: &Descriptor) -> Result<u32, shm::BadDescriptor> {
    let slot = pool.validate(d, d.dst)?;
    // SAFETY: validate gave the slot to the caller.
    let (meta, _) = unsafe { pool.slot(slot) };
    meta.status = STATUS_NEXT_UNREACHABLE;
    Ok(slot)
}

/// Gateway: the request in `slot` came back; render the reply (or the failure) and free the slot.
pub fn finish(pool: &Pool, slot: u32) -> Result<Reply, &'static str> {
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
    use workloads::FnId;

    fn chain() -> Chain {
        workloads::load_chain(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../workloads/chains/call-tree.toml"),
        )
        .unwrap()
    }

    /// The whole protocol in one process: admit, advance through every visit of a call tree,
    /// finish; the reply equals the reference execution's.
    #[test]
    fn protocol_matches_reference_execution() {
        let chain = chain();
        let pool = Pool::anonymous(4, 4096 + 64).unwrap();
        let handlers: Vec<(FnId, Box<dyn Handler>)> =
            chain.functions.iter().map(|f| (f.id, f.handler.build(f.id))).collect();
        for route in &chain.routes {
            let mut d = admit(&pool, 7, route, State::new(route.id), b"body", 0).unwrap();
            assert_eq!(d.src, gateway_key(7));
            let mut hops = 0;
            while key_function(d.dst) != 0 {
                let me = d.dst;
                pool.validate(&d, me).unwrap();
                let h = &handlers.iter().find(|(id, _)| *id == key_function(me)).unwrap().1;
                let next = advance(&pool, &chain, me, h.as_ref(), &d);
                assert_eq!((next.src, next.slot, next.gen), (me, d.slot, d.gen));
                d = next;
                hops += 1;
            }
            assert_eq!(hops, route.visits().len());
            let reply = finish(&pool, pool.validate(&d, gateway_key(7)).unwrap()).unwrap();
            assert_eq!(reply.body, workloads::reference::execute(&chain, route, b"body").unwrap());
        }
        assert_eq!(pool.free_count(), 4);
        let big = vec![0u8; 5000];
        let st = State::new(1);
        assert!(matches!(admit(&pool, 7, &chain.routes[0], st, &big, 0), Err(AdmitError::TooLarge { .. })));
    }

    /// A send that fails is rolled back: at the gateway the slot is freed; at a function the
    /// slot goes back to the gateway, which answers with the failure.
    #[test]
    fn failed_sends_roll_back() {
        let chain = chain();
        let pool = Pool::anonymous(2, 4096 + 64).unwrap();
        let d = admit(&pool, 3, &chain.routes[0], State::new(1), b"x", 0).unwrap();
        withdraw(&pool, &d);
        assert_eq!(pool.free_count(), 2);
        assert_eq!(pool.bad_descriptors(), 0);

        let d = admit(&pool, 3, &chain.routes[0], State::new(1), b"x", 0).unwrap();
        pool.validate(&d, d.dst).unwrap();
        let h = chain.function(key_function(d.dst)).unwrap().handler.build(key_function(d.dst));
        let next = advance(&pool, &chain, d.dst, h.as_ref(), &d);
        let back = bounce(&pool, &next);
        assert_eq!(back.dst, gateway_key(3));
        let slot = pool.validate(&back, gateway_key(3)).unwrap();
        assert_eq!(finish(&pool, slot), Err(status_message(STATUS_NEXT_UNREACHABLE)));
        assert_eq!(pool.free_count(), 2);
    }

    /// A descriptor the transport brought back undelivered (its destination is gone) fails its
    /// request at the gateway: the slot in transit to the destination is claimed, the reply is
    /// the failure, and the slot is freed; one with another generation, or for a destination
    /// the slot was not sent to, is refused and counted, and the slot stays where it was.
    #[test]
    fn undelivered_descriptors_fail_their_request() {
        let chain = chain();
        let pool = Pool::anonymous(2, 4096 + 64).unwrap();
        let d = admit(&pool, 3, &chain.routes[0], State::new(1), b"x", 0).unwrap();
        let stale = Descriptor { gen: d.gen.wrapping_add(1), ..d };
        assert!(undelivered(&pool, &stale).is_err());
        let elsewhere = Descriptor { dst: key(3, 9), ..d };
        assert!(undelivered(&pool, &elsewhere).is_err());
        assert_eq!(pool.bad_descriptors(), 2);
        let slot = undelivered(&pool, &d).unwrap();
        assert_eq!(finish(&pool, slot), Err(status_message(STATUS_NEXT_UNREACHABLE)));
        assert_eq!(pool.free_count(), 2);
    }
}
