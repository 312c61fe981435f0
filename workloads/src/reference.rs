//! In-process reference execution of a chain: the oracle for every backend.
//!
//! It walks routes with the same step machine and handlers the backends use
//! ([`crate::handler::visit`]), with no transport at all. A backend is correct when its HTTP
//! response for a request equals the reference's for the same request, byte for byte. A
//! [`Reference`] keeps its handlers, so the state a function keeps between requests (Online
//! Boutique's carts) evolves as it does in a deployed chain given the same request sequence.

use crate::chain::{Chain, FnId, Route, Step};
use crate::handler::{visit, BodyFull, Handler};
use crate::state::{render_reply, set_padded, Reply, State};

pub struct Reference<'c> {
    chain: &'c Chain,
    handlers: Vec<(FnId, Box<dyn Handler>)>,
}

impl<'c> Reference<'c> {
    pub fn new(chain: &'c Chain) -> Self {
        let handlers = chain.functions.iter().map(|f| (f.id, f.handler.build(f.id))).collect();
        Reference { chain, handlers }
    }

    /// Run one request as the gateway admits it: `state` from [`State::new`] plus the client's
    /// identity and the path parameter.
    pub fn run(&self, route: &Route, mut state: State, body: &[u8]) -> Result<Reply, BodyFull> {
        let handler = |id: FnId| &self.handlers.iter().find(|(fid, _)| *fid == id).expect("validated chain").1;
        let mut body = body.to_vec();
        let mut at: (u16, Option<u16>) = (0, None);
        loop {
            let (node, from) = at;
            let h = handler(route.node(node).func);
            match visit(route, node, from, h.as_ref(), &mut state, &mut body)? {
                Step::Call(c) | Step::TailCall(c) => at = (c, None),
                Step::Return(p) => at = (p, Some(node)),
                Step::Reply => return Ok(render_reply(&state, &body)),
            }
        }
    }

    /// An HTTP request as a client sends it: resolved to a route like a gateway does.
    /// `None` if no route matches, or the identity or parameter does not fit.
    pub fn request(&self, method: &str, path: &str, user: &str, body: &[u8]) -> Option<Reply> {
        let crate::Resolved::Route(route, param) = self.chain.resolve(method, path) else { return None };
        let mut state = State::new(route.id);
        if !set_padded(&mut state.user, user) || !set_padded(&mut state.param, param) {
            return None;
        }
        self.run(route, state, body).ok()
    }
}

/// Run one request on `route` of a chain whose functions keep no state between requests, and
/// return the reply body a gateway must send.
pub fn execute(chain: &Chain, route: &Route, body: &[u8]) -> Result<Vec<u8>, BodyFull> {
    Reference::new(chain).run(route, State::new(route.id), body).map(|r| r.body)
}
