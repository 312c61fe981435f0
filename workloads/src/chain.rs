//! The validated, compiled chain: functions, routes as node arrays, and the step machine.

use crate::handler::HandlerSpec;
use crate::load::LoadProfile;
use std::path::PathBuf;

/// A function's id within its chain (1-based, as in the paper: frontend 1 ... ad 10). Id 0 is
/// reserved for the gateway by the shared-memory backends.
pub type FnId = u16;

/// Deepest call-tree nesting a route may have. The shared-memory backends carry the return path
/// in a fixed-size message header, so the bound is part of the model.
pub const MAX_DEPTH: usize = 16;
/// Most nodes one route may have (node indices travel as `u16`).
pub const MAX_NODES: usize = 1024;

#[derive(Debug, Clone)]
pub struct Chain {
    pub name: String,
    pub description: String,
    pub functions: Vec<Function>,
    pub routes: Vec<Route>,
    pub load: LoadProfile,
    /// Largest request or response body any component must accept, in bytes.
    pub max_body_bytes: usize,
    /// Requests in flight at once in a shared-memory pool (slots per chain).
    pub pool_slots: u32,
    /// A gateway answers 504 when the chain has not replied within this time.
    pub gateway_timeout_ms: u64,
    /// Knative's `scale-to-zero-grace-period`: how long an idle function keeps its last
    /// instance when its min-scale is 0.
    pub scale_to_zero_grace: std::time::Duration,
    /// Knative's `stable-window`: the autoscaler sizes services on the mean concurrency over it.
    pub stable_window: std::time::Duration,
    /// Where the spec was read from, and its text (recorded in every run's manifest).
    pub source: PathBuf,
    pub spec_text: String,
}

#[derive(Debug, Clone)]
pub struct Function {
    pub id: FnId,
    pub name: String,
    pub handler: HandlerSpec,
    /// Requests this function can run at once (its worker threads).
    pub workers: u16,
    /// How an autoscaling platform serves it (Knative's knobs; other backends ignore them).
    pub serving: crate::serving::Serving,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// The message visits the functions in order; the last one's result is the reply.
    Pipeline,
    /// Callers call callees and continue with their results.
    CallTree,
}

/// One position in a route. Nodes are stored in pre-order; node 0 is the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub func: FnId,
    pub parent: Option<u16>,
    pub children: Vec<u16>,
}

#[derive(Debug, Clone)]
pub struct Route {
    /// 1-based position in the spec; the client may use it instead of the name in the URL.
    pub id: u16,
    pub name: String,
    pub kind: RouteKind,
    pub nodes: Vec<Node>,
    /// Relative share of the request mix.
    pub weight: f64,
    /// Request body size the load generator sends on this route.
    pub payload_bytes: usize,
}

/// Where a message goes after a function has run its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Invoke the function at this node and come back here with its result (call trees).
    Call(u16),
    /// Hand the message on to this node; nothing happens here when it is done (pipelines). An
    /// RPC transport returns the callee's result unchanged; a message-passing transport does not
    /// come back at all.
    TailCall(u16),
    /// Return the result to the caller at this node.
    Return(u16),
    /// The route is done: the result goes to the client.
    Reply,
}

impl Chain {
    pub fn function(&self, id: FnId) -> Option<&Function> {
        self.functions.iter().find(|f| f.id == id)
    }

    /// A route by its name or by its numeric id, as written in the URL path.
    pub fn route_by_key(&self, key: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == key).or_else(|| key.parse::<u16>().ok().and_then(|id| self.route(id)))
    }

    pub fn route(&self, id: u16) -> Option<&Route> {
        self.routes.iter().find(|r| r.id == id)
    }
}

impl Route {
    pub fn node(&self, idx: u16) -> &Node {
        &self.nodes[idx as usize]
    }

    /// The step machine all backends share. `returned_from` is the child node whose result just
    /// came back, or `None` when the message has just entered `node`.
    pub fn next(&self, node: u16, returned_from: Option<u16>) -> Step {
        let n = self.node(node);
        let upward = || match n.parent {
            Some(p) => Step::Return(p),
            None => Step::Reply,
        };
        match self.kind {
            // Every caller in a pipeline tail-calls, so the last function's result is the reply.
            RouteKind::Pipeline => match (returned_from, n.children.first()) {
                (None, Some(&c)) => Step::TailCall(c),
                _ => Step::Reply,
            },
            RouteKind::CallTree => {
                let next_child = match returned_from {
                    None => n.children.first(),
                    Some(c) => {
                        let pos = n.children.iter().position(|&x| x == c);
                        pos.and_then(|p| n.children.get(p + 1))
                    }
                };
                match next_child {
                    Some(&c) => Step::Call(c),
                    None => upward(),
                }
            }
        }
    }

    /// The visits a request on this route makes, in order: (node, returned_from).
    /// Every backend must produce exactly this sequence.
    pub fn visits(&self) -> Vec<(u16, Option<u16>)> {
        let mut out = Vec::new();
        let mut at = (0u16, None);
        loop {
            out.push(at);
            match self.next(at.0, at.1) {
                Step::Call(c) | Step::TailCall(c) => at = (c, None),
                Step::Return(p) => at = (p, Some(at.0)),
                Step::Reply => return out,
            }
        }
    }

    /// Messages delivered to each function per request (entries plus returns from callees):
    /// what a per-destination counter in the dataplane must show.
    pub fn deliveries(&self) -> Vec<(FnId, u64)> {
        let mut counts: Vec<(FnId, u64)> = Vec::new();
        for (node, _) in self.visits() {
            let f = self.node(node).func;
            match counts.iter_mut().find(|(id, _)| *id == f) {
                Some((_, c)) => *c += 1,
                None => counts.push((f, 1)),
            }
        }
        counts
    }

    /// Transfers between components per request, gateway legs included, for a message-passing
    /// transport (tail calls never come back).
    pub fn hops(&self) -> usize {
        self.visits().len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(fns: &[FnId]) -> Route {
        let n = fns.len();
        let nodes = fns
            .iter()
            .enumerate()
            .map(|(i, &f)| Node {
                func: f,
                parent: i.checked_sub(1).map(|p| p as u16),
                children: if i + 1 < n { vec![(i + 1) as u16] } else { vec![] },
            })
            .collect();
        Route { id: 1, name: "p".into(), kind: RouteKind::Pipeline, nodes, weight: 1.0, payload_bytes: 0 }
    }

    #[test]
    fn pipeline_visits_each_function_once_then_replies() {
        let r = pipeline(&[1, 2, 3]);
        assert_eq!(r.next(0, None), Step::TailCall(1));
        assert_eq!(r.next(2, None), Step::Reply);
        assert_eq!(r.visits(), vec![(0, None), (1, None), (2, None)]);
        assert_eq!(r.hops(), 4);
        assert_eq!(r.deliveries(), vec![(1, 1), (2, 1), (3, 1)]);
    }

    #[test]
    fn call_tree_returns_to_callers_in_order() {
        // 1 calls 2 and 3; 3 calls 4.
        let nodes = vec![
            Node { func: 1, parent: None, children: vec![1, 2] },
            Node { func: 2, parent: Some(0), children: vec![] },
            Node { func: 3, parent: Some(0), children: vec![3] },
            Node { func: 4, parent: Some(2), children: vec![] },
        ];
        let r = Route { id: 1, name: "t".into(), kind: RouteKind::CallTree, nodes, weight: 1.0, payload_bytes: 0 };
        assert_eq!(
            r.visits(),
            vec![(0, None), (1, None), (0, Some(1)), (2, None), (3, None), (2, Some(3)), (0, Some(2))]
        );
        assert_eq!(r.deliveries(), vec![(1, 3), (2, 1), (3, 2), (4, 1)]);
    }
}
