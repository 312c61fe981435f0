//! The typed request state handlers read and write, and the reply every gateway renders.
//!
//! `State` is plain data (`#[repr(C)]`, [`bytemuck::Pod`]): the shared-memory backends keep it
//! in the pool slot and hand functions a reference to it, never a copy; the RPC backends encode
//! its fields as protobuf on every hop. Adding a field means adding it to both views, and the
//! layout test below keeps the in-memory one fixed.
//!
//! Besides the digest it carries what the gateway learned from the HTTP request (the client's
//! identity and the route's path parameter), the application status a handler sets to end the
//! request early with an error, and the counters of a repeat group (see [`crate::chain`]).

use bytemuck::{Pod, Zeroable};

/// Longest client identity (`x-user` header or `shop_session-id` cookie): a UUID fits.
pub const USER_BYTES: usize = 40;
/// Longest path parameter (`/product/{id}`).
pub const PARAM_BYTES: usize = 32;

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
    /// 0 while the request goes well; an HTTP status (4xx) once a handler rejected it. A set
    /// status unwinds the route: every caller still sees its callee return, nobody is called.
    pub status: u16,
    /// How many times the route's repeat group runs, set by the caller's handler before it.
    pub fanout: u16,
    /// The repeat group's current iteration (kept by the step machine).
    pub iter: u16,
    pub _reserved: u32,
    /// The client's identity, NUL-padded ASCII; empty if the request carried none.
    pub user: [u8; USER_BYTES],
    /// The route's path parameter, NUL-padded; empty if its pattern has none.
    pub param: [u8; PARAM_BYTES],
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

/// FNV-1a of `bytes` from the standard offset basis.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

/// A NUL-padded field's text (up to the first NUL).
pub fn padded_str(field: &[u8]) -> &str {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    std::str::from_utf8(&field[..end]).unwrap_or("")
}

/// Copy `s` into a NUL-padded field; false (and the field untouched) if it does not fit.
pub fn set_padded(field: &mut [u8], s: &str) -> bool {
    if s.len() > field.len() {
        return false;
    }
    field.fill(0);
    field[..s.len()].copy_from_slice(s.as_bytes());
    true
}

impl State {
    /// The state the gateway creates when it admits a request on `route`.
    pub fn new(route: u16) -> Self {
        State { digest: fnv1a(FNV_OFFSET, &route.to_le_bytes()), route, ..Zeroable::zeroed() }
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

    pub fn user(&self) -> &str {
        padded_str(&self.user)
    }

    pub fn param(&self) -> &str {
        padded_str(&self.param)
    }
}

/// A finished request as the gateway answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status: 200, or the 4xx a handler set.
    pub status: u16,
    pub body: Vec<u8>,
}

/// The HTTP response for a finished request: one text line with the digest and the visit
/// count, then the final body; the status is 200 unless a handler set one. Every backend's
/// gateway renders replies with this function.
pub fn render_reply(state: &State, body: &[u8]) -> Reply {
    let head = format!("digest={:016x} visits={} route={}\n", state.digest, state.visits, state.route);
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    let status = match state.status {
        0 => 200,
        s @ 400..=599 => s,
        _ => 500,
    };
    Reply { status, body: out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_fixed() {
        assert_eq!(std::mem::size_of::<State>(), 96);
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
        let text = String::from_utf8(r.body).unwrap();
        assert!(text.starts_with("digest="));
        assert!(text.ends_with("visits=0 route=3\nbody"));
        assert_eq!(r.status, 200);
    }

    #[test]
    fn a_handler_status_becomes_the_reply_status() {
        let mut s = State::new(1);
        s.status = 402;
        assert_eq!(render_reply(&s, b"").status, 402);
        s.status = 7;
        assert_eq!(render_reply(&s, b"").status, 500);
    }

    #[test]
    fn padded_fields_round_trip() {
        let mut s = State::new(1);
        assert!(set_padded(&mut s.user, "alice"));
        assert_eq!(s.user(), "alice");
        assert!(!set_padded(&mut s.param, &"x".repeat(PARAM_BYTES + 1)));
        assert_eq!(s.param(), "");
    }
}
