//! The validated, compiled chain: functions, routes as node arrays, and the step machine.

use crate::handler::Call;
use crate::handler::HandlerSpec;
use crate::load::LoadProfile;
use crate::state::State;
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
    /// What each simulated user does (Locust-style tasks), if the spec says.
    pub users: Option<crate::users::Users>,
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
    /// The factor every time of the run was multiplied by (the spec's `compress`; 1: the
    /// experiment at the length the spec writes).
    pub time_factor: f64,
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    pub func: FnId,
    /// The RPC the caller invokes here (empty for functions with one entry point).
    pub method: String,
    pub parent: Option<u16>,
    pub children: Vec<u16>,
    /// Set on the callees of a repeat group: the positions, in the parent's `children`, of the
    /// group's first and last callee. The group runs [`State::fanout`] times.
    pub group: Option<(u16, u16)>,
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
    /// The HTTP method and path pattern that select this route; `None`: `/<name>` or `/<id>`.
    pub http: Option<HttpPattern>,
}

/// `GET /product/{id}`: a method and a path of literal segments and at most one parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpPattern {
    pub method: String,
    pub segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// A parameter (its name); the gateway puts its value in [`State::param`].
    Param(String),
}

impl HttpPattern {
    /// The parameter's value if `path` matches (`Some("")` for a pattern without one).
    pub fn matches<'p>(&self, path: &'p str) -> Option<&'p str> {
        let mut parts = path.strip_prefix('/')?.split('/');
        let mut param = "";
        for seg in &self.segments {
            let part = parts.next()?;
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) if part.is_empty() => return None,
                Segment::Param(_) => param = part,
            }
        }
        match parts.next() {
            None => Some(param),
            // `GET /` is one empty segment; a trailing slash elsewhere is the same path.
            Some("") if parts.next().is_none() => Some(param),
            Some(_) => None,
        }
    }
}

impl std::fmt::Display for HttpPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ", self.method)?;
        if self.segments.is_empty() {
            return write!(f, "/");
        }
        for s in &self.segments {
            match s {
                Segment::Literal(l) => write!(f, "/{l}")?,
                Segment::Param(p) => write!(f, "/{{{p}}}")?,
            }
        }
        Ok(())
    }
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

    /// The route an HTTP request selects: a route whose pattern matches method and path, or,
    /// for routes without one, `GET|POST /<name or id>[/...]` as the synthetic chains use.
    pub fn resolve<'p>(&self, method: &str, path: &'p str) -> Resolved<'_, 'p> {
        let mut allowed = Vec::new();
        for r in &self.routes {
            if let Some(p) = &r.http {
                if let Some(param) = p.matches(path) {
                    if p.method == method {
                        return Resolved::Route(r, param);
                    }
                    allowed.push(p.method.as_str());
                }
            }
        }
        if !allowed.is_empty() {
            return Resolved::WrongMethod(allowed);
        }
        let key = path.trim_start_matches('/').split('/').next().unwrap_or("");
        match self.route_by_key(key).filter(|r| r.http.is_none()) {
            Some(r) if method == "GET" || method == "POST" => Resolved::Route(r, ""),
            Some(_) => Resolved::WrongMethod(vec!["GET", "POST"]),
            None => Resolved::NotFound,
        }
    }
}

/// What [`Chain::resolve`] found for a request.
#[derive(Debug)]
pub enum Resolved<'c, 'p> {
    /// The route and its path parameter ("" if it has none).
    Route(&'c Route, &'p str),
    /// The path exists, with these methods only.
    WrongMethod(Vec<&'c str>),
    NotFound,
}

impl Route {
    pub fn node(&self, idx: u16) -> &Node {
        &self.nodes[idx as usize]
    }

    /// The invocation at `node` as its handler sees it.
    pub fn call(&self, node: u16, state: &State) -> Call<'_> {
        let n = self.node(node);
        Call { func: n.func, method: &n.method, iter: n.group.map(|_| state.iter) }
    }

    /// The step machine all backends share. `returned_from` is the child node whose result just
    /// came back, or `None` when the message has just entered `node`. It reads the request's
    /// status and repeat count and keeps the repeat iteration in `state`, so the call sequence
    /// may depend on data (a cart's items) while the graph stays what the spec declares.
    pub fn next(&self, node: u16, returned_from: Option<u16>, state: &mut State) -> Step {
        let n = self.node(node);
        let upward = match n.parent {
            Some(p) => Step::Return(p),
            None => Step::Reply,
        };
        if state.status != 0 {
            // A handler rejected the request: unwind to the client, calling nobody.
            return upward;
        }
        match self.kind {
            // Every caller in a pipeline tail-calls, so the last function's result is the reply.
            RouteKind::Pipeline => match (returned_from, n.children.first()) {
                (None, Some(&c)) => Step::TailCall(c),
                _ => Step::Reply,
            },
            RouteKind::CallTree => {
                let mut pos = match returned_from {
                    None => 0,
                    Some(c) => {
                        let Some(p) = n.children.iter().position(|&x| x == c) else { return upward };
                        match self.node(c).group {
                            Some((first, last)) if p == last as usize && state.iter + 1 < state.fanout => {
                                state.iter += 1;
                                return Step::Call(n.children[first as usize]);
                            }
                            _ => p + 1,
                        }
                    }
                };
                while let Some(&c) = n.children.get(pos) {
                    match self.node(c).group {
                        Some((first, last)) if pos == first as usize => {
                            if state.fanout == 0 {
                                pos = last as usize + 1;
                                continue;
                            }
                            state.iter = 0;
                            return Step::Call(c);
                        }
                        _ => return Step::Call(c),
                    }
                }
                upward
            }
        }
    }

    /// The visits a request on this route makes, in order: (node, returned_from), when every
    /// repeat group runs `fanout` times and nothing fails. Every backend must produce exactly
    /// this sequence.
    pub fn visits_with(&self, fanout: u16) -> Vec<(u16, Option<u16>)> {
        let mut state = State::new(self.id);
        state.fanout = fanout;
        let mut out = Vec::new();
        let mut at = (0u16, None);
        loop {
            out.push(at);
            match self.next(at.0, at.1, &mut state) {
                Step::Call(c) | Step::TailCall(c) => at = (c, None),
                Step::Return(p) => at = (p, Some(at.0)),
                Step::Reply => return out,
            }
        }
    }

    /// The visits of a route without repeat groups (see [`Route::visits_with`]).
    pub fn visits(&self) -> Vec<(u16, Option<u16>)> {
        self.visits_with(0)
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
                ..Node::default()
            })
            .collect();
        Route { id: 1, name: "p".into(), kind: RouteKind::Pipeline, nodes, weight: 1.0, payload_bytes: 0, http: None }
    }

    #[test]
    fn pipeline_visits_each_function_once_then_replies() {
        let r = pipeline(&[1, 2, 3]);
        let mut st = State::new(1);
        assert_eq!(r.next(0, None, &mut st), Step::TailCall(1));
        assert_eq!(r.next(2, None, &mut st), Step::Reply);
        assert_eq!(r.visits(), vec![(0, None), (1, None), (2, None)]);
        assert_eq!(r.hops(), 4);
        assert_eq!(r.deliveries(), vec![(1, 1), (2, 1), (3, 1)]);
    }

    #[test]
    fn call_tree_returns_to_callers_in_order() {
        // 1 calls 2 and 3; 3 calls 4.
        let r = tree(vec![
            Node { func: 1, parent: None, children: vec![1, 2], ..Node::default() },
            Node { func: 2, parent: Some(0), ..Node::default() },
            Node { func: 3, parent: Some(0), children: vec![3], ..Node::default() },
            Node { func: 4, parent: Some(2), ..Node::default() },
        ]);
        assert_eq!(
            r.visits(),
            vec![(0, None), (1, None), (0, Some(1)), (2, None), (3, None), (2, Some(3)), (0, Some(2))]
        );
        assert_eq!(r.deliveries(), vec![(1, 3), (2, 1), (3, 2), (4, 1)]);
    }

    fn tree(nodes: Vec<Node>) -> Route {
        Route { id: 1, name: "t".into(), kind: RouteKind::CallTree, nodes, weight: 1.0, payload_bytes: 0, http: None }
    }

    /// 1 calls 2, then the group (3, 4) `fanout` times, then 5.
    fn grouped() -> Route {
        tree(vec![
            Node { func: 1, parent: None, children: vec![1, 2, 3, 4], ..Node::default() },
            Node { func: 2, parent: Some(0), ..Node::default() },
            Node { func: 3, parent: Some(0), group: Some((1, 2)), ..Node::default() },
            Node { func: 4, parent: Some(0), group: Some((1, 2)), ..Node::default() },
            Node { func: 5, parent: Some(0), ..Node::default() },
        ])
    }

    #[test]
    fn a_repeat_group_runs_fanout_times_and_none_at_zero() {
        let funcs = |fanout| -> Vec<(FnId, Option<FnId>)> {
            let r = grouped();
            r.visits_with(fanout).iter().map(|&(n, f)| (r.node(n).func, f.map(|f| r.node(f).func))).collect()
        };
        assert_eq!(funcs(0), vec![(1, None), (2, None), (1, Some(2)), (5, None), (1, Some(5))]);
        assert_eq!(
            funcs(2),
            vec![
                (1, None),
                (2, None),
                (1, Some(2)),
                (3, None),
                (1, Some(3)),
                (4, None),
                (1, Some(4)),
                (3, None),
                (1, Some(3)),
                (4, None),
                (1, Some(4)),
                (5, None),
                (1, Some(5)),
            ]
        );
    }

    #[test]
    fn a_status_unwinds_without_further_calls() {
        let r = grouped();
        let mut st = State::new(1);
        st.fanout = 3;
        assert_eq!(r.next(0, Some(1), &mut st), Step::Call(2));
        assert_eq!(st.iter, 0);
        st.status = 404;
        assert_eq!(r.next(2, None, &mut st), Step::Return(0));
        assert_eq!(r.next(0, Some(2), &mut st), Step::Reply);
    }

    #[test]
    fn patterns_match_paths_and_extract_the_parameter() {
        let p = HttpPattern {
            method: "GET".into(),
            segments: vec![Segment::Literal("product".into()), Segment::Param("id".into())],
        };
        assert_eq!(p.matches("/product/OLJCESPC7Z"), Some("OLJCESPC7Z"));
        assert_eq!(p.matches("/product/X/"), Some("X"));
        assert_eq!(p.matches("/product/"), None);
        assert_eq!(p.matches("/product/X/more"), None);
        assert_eq!(p.matches("/cart"), None);
        let root = HttpPattern { method: "GET".into(), segments: vec![] };
        assert_eq!(root.matches("/"), Some(""));
        assert_eq!(root.matches("/x"), None);
        assert_eq!(p.to_string(), "GET /product/{id}");
        assert_eq!(root.to_string(), "GET /");
    }
}
