//! Function logic, written once and run unchanged by every backend.
//!
//! A handler sees the request's [`State`] and its body, does its work, and returns. Where the
//! message goes next is decided by the route ([`crate::Route::next`]), not by the handler: the
//! topology stays data, visible in the spec and validated before anything runs. What data may
//! decide is how often a repeat group runs ([`State::fanout`]) and whether the request ends
//! early ([`State::status`]): that is how Online Boutique's cart-sized fan-out and its failed
//! payments work on every backend alike.

use crate::chain::{FnId, Route, Step};
use crate::rng::SplitMix64;
use crate::state::State;
use std::time::Duration;

/// A request or response body. The RPC backends use a `Vec<u8>`; the shared-memory backends a
/// fixed-capacity region of a pool slot, which is why growing can fail.
pub trait Body {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Set the length; new bytes are zero. Fails if the buffer cannot hold `len` bytes.
    fn resize(&mut self, len: usize) -> Result<(), BodyFull>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("body of {wanted} bytes does not fit in {capacity}")]
pub struct BodyFull {
    pub wanted: usize,
    pub capacity: usize,
}

impl Body for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
    fn resize(&mut self, len: usize) -> Result<(), BodyFull> {
        Vec::resize(self, len, 0);
        Ok(())
    }
}

/// Visit events folded into the digest.
pub const EVENT_REQUEST: u16 = 0;
pub const EVENT_RETURN: u16 = 1;

/// One invocation as a handler sees it: which function, which of its RPCs, and (for the
/// callees of a repeat group) which iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    pub func: FnId,
    /// The node's method (empty where the spec names none).
    pub method: &'a str,
    /// The repeat-group iteration, for a callee in a repeat group.
    pub iter: Option<u16>,
}

/// Function logic. A handler works on the request's [`State`] and body only: the same code runs
/// in place in a pool slot (shared-memory backends) and on a decoded copy (RPC backends). To end
/// a request with an error it sets [`State::status`]; the step machine then unwinds.
pub trait Handler: Send + Sync {
    /// The request has entered this function (`me`).
    fn on_request(&self, me: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull>;
    /// A callee (call trees only) has returned its result in `state` and `body`.
    fn on_return(&self, me: Call, callee: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull>;
    /// `me` is about to call `callee`: put the call's arguments where the callee reads them.
    fn before_call(&self, _me: Call, _callee: Call, _state: &mut State, _body: &mut dyn Body) -> Result<(), BodyFull> {
        Ok(())
    }
    /// The request is done at `me` and goes to the client next: render the reply body.
    fn before_reply(&self, _me: Call, _state: &mut State, _body: &mut dyn Body) -> Result<(), BodyFull> {
        Ok(())
    }
}

/// Which handler a function runs, with its validated parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum HandlerSpec {
    Synthetic(SyntheticParams),
    /// One of Online Boutique's services, over the chain's shop data.
    Boutique(crate::boutique::Service, std::sync::Arc<crate::boutique::Catalog>),
}

impl HandlerSpec {
    pub fn build(&self, _func: FnId) -> Box<dyn Handler> {
        match self {
            HandlerSpec::Synthetic(p) => Box::new(Synthetic { params: *p }),
            HandlerSpec::Boutique(service, catalog) => crate::boutique::handler(*service, catalog.clone()),
        }
    }

    /// The methods a node of this function may call; `None`: any (the handler ignores it).
    pub fn methods(&self) -> Option<&'static [&'static str]> {
        match self {
            HandlerSpec::Synthetic(_) => None,
            HandlerSpec::Boutique(s, _) => Some(s.methods()),
        }
    }
}

/// Service-time-only function: the paper's "service time" variant of Online Boutique and our
/// synthetic chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyntheticParams {
    /// CPU work per request, spun on the thread's own CPU clock (so time spent preempted on a
    /// busy machine is not counted as work done).
    pub work_ns: u64,
    /// Blocking time per request (I/O stand-in); holds one of the function's workers.
    pub sleep_ns: u64,
    /// If non-zero, the function replaces the body with this many bytes derived from the digest.
    pub payload_bytes: u64,
}

impl SyntheticParams {
    pub const FIELDS: &'static [&'static str] = &["work_ns", "sleep_ns", "payload_bytes"];
}

struct Synthetic {
    params: SyntheticParams,
}

impl Handler for Synthetic {
    fn on_request(&self, me: Call, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        spin_cpu(self.params.work_ns);
        if self.params.sleep_ns > 0 {
            std::thread::sleep(Duration::from_nanos(self.params.sleep_ns));
        }
        if self.params.payload_bytes > 0 {
            body.resize(self.params.payload_bytes as usize)?;
            fill_pattern(body.bytes_mut(), state.digest ^ me.func as u64);
        }
        Ok(())
    }

    fn on_return(&self, _me: Call, _callee: Call, _state: &mut State, _body: &mut dyn Body) -> Result<(), BodyFull> {
        Ok(())
    }
}

/// Run `handler` for the visit `(node, from)` of `route`, fold the visit into the digest, and
/// decide where the request goes next, letting the handler prepare a call or render the
/// reply. The one place handlers are driven: the reference execution, the SPRIGHT function
/// runtime and the RPC function all call it, so they cannot differ in what a visit does.
pub fn visit(
    route: &Route,
    node: u16,
    from: Option<u16>,
    handler: &dyn Handler,
    state: &mut State,
    body: &mut dyn Body,
) -> Result<Step, BodyFull> {
    let me = route.call(node, state);
    let event = match from {
        None => {
            handler.on_request(me, state, body)?;
            EVENT_REQUEST
        }
        Some(c) => {
            let callee = route.call(c, state);
            handler.on_return(me, callee, state, body)?;
            EVENT_RETURN ^ (callee.func << 1)
        }
    };
    state.record_visit(me.func, event, body.bytes());
    let mut step = route.next(node, from, state);
    if let Step::Call(c) | Step::TailCall(c) = step {
        handler.before_call(me, route.call(c, state), state, body)?;
        if state.status != 0 {
            step = route.next(node, from, state);
        }
    }
    if step == Step::Reply {
        handler.before_reply(me, state, body)?;
    }
    Ok(step)
}

/// Deterministic filler bytes: the same seed gives the same body on every backend.
pub fn fill_pattern(buf: &mut [u8], seed: u64) {
    let mut rng = SplitMix64::new(seed);
    for chunk in buf.chunks_mut(8) {
        let v = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid pointer to a timespec; CLOCK_THREAD_CPUTIME_ID exists on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Burn `ns` of this thread's CPU time.
pub fn spin_cpu(ns: u64) {
    if ns == 0 {
        return;
    }
    let end = thread_cpu_ns() + ns;
    while thread_cpu_ns() < end {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_resizes_body_deterministically() {
        let spec = HandlerSpec::Synthetic(SyntheticParams { payload_bytes: 100, ..Default::default() });
        let h = spec.build(2);
        let me = Call { func: 2, method: "", iter: None };
        let (mut s1, mut b1) = (State::new(1), vec![1u8; 10]);
        let (mut s2, mut b2) = (State::new(1), vec![1u8; 10]);
        h.on_request(me, &mut s1, &mut b1).unwrap();
        h.on_request(me, &mut s2, &mut b2).unwrap();
        assert_eq!(b1.len(), 100);
        assert_eq!(b1, b2);
        assert_eq!(s1, s2);
    }

    #[test]
    fn spin_burns_at_least_the_requested_cpu() {
        let t0 = thread_cpu_ns();
        spin_cpu(2_000_000);
        assert!(thread_cpu_ns() - t0 >= 2_000_000);
    }
}
