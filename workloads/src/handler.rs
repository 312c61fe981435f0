//! Function logic, written once and run unchanged by every backend.
//!
//! A handler sees the request's [`State`] and its body, does its work, and returns. Where the
//! message goes next is decided by the route ([`crate::Route::next`]), not by the handler: the
//! topology stays data, visible in the spec and validated before anything runs.

use crate::chain::FnId;
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

pub trait Handler: Send + Sync {
    /// The request has entered this function.
    fn on_request(&self, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull>;
    /// A callee (call trees only) has returned its result in `state` and `body`.
    fn on_return(&self, state: &mut State, body: &mut dyn Body, callee: FnId) -> Result<(), BodyFull>;
}

/// Which handler a function runs, with its validated parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum HandlerSpec {
    Synthetic(SyntheticParams),
}

impl HandlerSpec {
    /// Handler names accepted in a spec's `handler` field.
    pub const NAMES: &'static [&'static str] = &["synthetic"];

    pub fn build(&self, func: FnId) -> Box<dyn Handler> {
        match self {
            HandlerSpec::Synthetic(p) => Box::new(Synthetic { func, params: *p }),
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
    func: FnId,
    params: SyntheticParams,
}

impl Handler for Synthetic {
    fn on_request(&self, state: &mut State, body: &mut dyn Body) -> Result<(), BodyFull> {
        spin_cpu(self.params.work_ns);
        if self.params.sleep_ns > 0 {
            std::thread::sleep(Duration::from_nanos(self.params.sleep_ns));
        }
        if self.params.payload_bytes > 0 {
            body.resize(self.params.payload_bytes as usize)?;
            fill_pattern(body.bytes_mut(), state.digest ^ self.func as u64);
        }
        state.record_visit(self.func, EVENT_REQUEST, body.bytes());
        Ok(())
    }

    fn on_return(&self, state: &mut State, body: &mut dyn Body, callee: FnId) -> Result<(), BodyFull> {
        state.record_visit(self.func, EVENT_RETURN ^ (callee << 1), body.bytes());
        Ok(())
    }
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
        let (mut s1, mut b1) = (State::new(1), vec![1u8; 10]);
        let (mut s2, mut b2) = (State::new(1), vec![1u8; 10]);
        h.on_request(&mut s1, &mut b1).unwrap();
        h.on_request(&mut s2, &mut b2).unwrap();
        assert_eq!(b1.len(), 100);
        assert_eq!(b1, b2);
        assert_eq!(s1, s2);
        assert_eq!(s1.visits, 1);
    }

    #[test]
    fn spin_burns_at_least_the_requested_cpu() {
        let t0 = thread_cpu_ns();
        spin_cpu(2_000_000);
        assert!(thread_cpu_ns() - t0 >= 2_000_000);
    }
}
