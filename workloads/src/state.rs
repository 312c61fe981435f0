//! The typed request state handlers read and write, and the reply every gateway renders.
//!
//! `State` is plain data (`#[repr(C)]`, [`bytemuck::Pod`]): the shared-memory backends keep it
//! in the pool slot and hand functions a reference to it, never a copy; the RPC backends encode
//! its fields as protobuf on every hop. Adding a field means adding it to both views, and the
//! layout test below keeps the in-memory one fixed.

use bytemuck::{Pod, Zeroable};

/// Request state carried along a route.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
pub struct State {
    /// Running digest over every visit (function, event, body); proves every hop happened in
    /// order, on every backend alike.
    pub digest: u64,
    /// Handler visits so far.
    pub visits: u32,
    /// Route id the request was admitted on.
    pub route: u16,
    pub _reserved: u16,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over `bytes`, continuing from `h`.
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl State {
    /// The state the gateway creates when it admits a request on `route`.
    pub fn new(route: u16) -> Self {
        State { digest: fnv1a(FNV_OFFSET, &route.to_le_bytes()), visits: 0, route, _reserved: 0 }
    }

    /// Fold one visit into the digest. Only the body's length and its first and last 64 bytes
    /// are hashed: enough to catch a wrong or missing body, cheap enough that a 64 KiB payload
    /// does not turn the digest into the workload. The full body is compared at the client.
    pub fn record_visit(&mut self, func: u16, event: u16, body: &[u8]) {
        let mut h = fnv1a(self.digest, &func.to_le_bytes());
        h = fnv1a(h, &event.to_le_bytes());
        h = fnv1a(h, &(body.len() as u64).to_le_bytes());
        let head = &body[..body.len().min(64)];
        let tail = &body[body.len().saturating_sub(64)..];
        h = fnv1a(fnv1a(h, head), tail);
        self.digest = h;
        self.visits += 1;
    }
}

/// The HTTP response body for a finished request: one text line with the digest and the visit
/// count, then the final body. Every backend's gateway renders replies with this function.
pub fn render_reply(state: &State, body: &[u8]) -> Vec<u8> {
    let head = format!("digest={:016x} visits={} route={}\n", state.digest, state.visits, state.route);
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed() {
        assert_eq!(std::mem::size_of::<State>(), 16);
        assert_eq!(std::mem::align_of::<State>(), 8);
    }

    #[test]
    fn digest_depends_on_order() {
        let mut a = State::new(1);
        a.record_visit(1, 0, b"x");
        a.record_visit(2, 0, b"x");
        let mut b = State::new(1);
        b.record_visit(2, 0, b"x");
        b.record_visit(1, 0, b"x");
        assert_ne!(a.digest, b.digest);
        assert_eq!(a.visits, 2);
    }

    #[test]
    fn reply_starts_with_digest_line() {
        let s = State::new(3);
        let r = render_reply(&s, b"body");
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("digest="));
        assert!(text.ends_with("visits=0 route=3\nbody"));
    }
}
