//! In-process reference execution of a route: the oracle for every backend.
//!
//! It walks the route with the same step machine and handlers the backends use, with no
//! transport at all. A backend is correct when its HTTP response for a request equals
//! [`execute`]'s output for the same route and body, byte for byte.

use crate::chain::{Chain, Route, Step};
use crate::handler::{BodyFull, Handler};
use crate::state::{render_reply, State};

/// Run one request on `route` of `chain` and return the reply body a gateway must send.
pub fn execute(chain: &Chain, route: &Route, body: &[u8]) -> Result<Vec<u8>, BodyFull> {
    let handlers: Vec<(u16, Box<dyn Handler>)> =
        chain.functions.iter().map(|f| (f.id, f.handler.build(f.id))).collect();
    let handler = |id: u16| &handlers.iter().find(|(fid, _)| *fid == id).expect("validated chain").1;
    let mut state = State::new(route.id);
    let mut body = body.to_vec();
    let mut at: (u16, Option<u16>) = (0, None);
    loop {
        let (node, from) = at;
        let func = route.node(node).func;
        match from {
            None => handler(func).on_request(&mut state, &mut body)?,
            Some(c) => handler(func).on_return(&mut state, &mut body, route.node(c).func)?,
        }
        match route.next(node, from) {
            Step::Call(c) | Step::TailCall(c) => at = (c, None),
            Step::Return(p) => at = (p, Some(node)),
            Step::Reply => return Ok(render_reply(&state, &body)),
        }
    }
}
