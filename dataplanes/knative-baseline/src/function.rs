//! A chain function served over gRPC.
//!
//! One process per function. On `Invoke` it runs the workloads handler on the request, then
//! follows the route's step machine: a tail call (pipeline) forwards the request to the next
//! function and returns that function's result unchanged; a call (call tree) waits for the
//! callee's result and runs the handler's `on_return` on it; `Return`/`Reply` answer the caller.

use crate::proto::function_client::FunctionClient;
use crate::proto::function_server::{Function, FunctionServer};
use crate::proto::Invocation;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use workloads::{Chain, FnId, Handler, State, Step};

/// Clients for the functions a component calls, keyed by function id.
#[derive(Clone)]
pub struct Peers {
    clients: HashMap<FnId, FunctionClient<Channel>>,
}

impl Peers {
    /// `addrs`: (function id, `host:port`) pairs. Connections are made lazily on first use.
    pub fn new(addrs: &[(FnId, String)], max_message: usize) -> Result<Self, tonic::transport::Error> {
        let mut clients = HashMap::new();
        for (id, addr) in addrs {
            let channel = Endpoint::from_shared(format!("http://{addr}"))?.tcp_nodelay(true).connect_lazy();
            let client = FunctionClient::new(channel)
                .max_decoding_message_size(max_message)
                .max_encoding_message_size(max_message);
            clients.insert(*id, client);
        }
        Ok(Peers { clients })
    }

    /// Invoke `func` with `inv`.
    pub async fn invoke(&self, func: FnId, inv: Invocation) -> Result<Invocation, Status> {
        let mut client = self
            .clients
            .get(&func)
            .cloned()
            .ok_or_else(|| Status::failed_precondition(format!("no address for function {func}")))?;
        client.invoke(Request::new(inv)).await.map(Response::into_inner)
    }
}

pub struct FunctionService {
    chain: Arc<Chain>,
    me: FnId,
    handler: Box<dyn Handler>,
    peers: Peers,
}

impl FunctionService {
    pub fn new(chain: Arc<Chain>, me: FnId, peers: Peers) -> Option<Self> {
        let handler = chain.function(me)?.handler.build(me);
        Some(FunctionService { chain, me, handler, peers })
    }

    pub fn into_server(self, max_message: usize) -> FunctionServer<Self> {
        FunctionServer::new(self).max_decoding_message_size(max_message).max_encoding_message_size(max_message)
    }
}

fn body_full(e: workloads::BodyFull) -> Status {
    Status::resource_exhausted(e.to_string())
}

#[tonic::async_trait]
impl Function for FunctionService {
    async fn invoke(&self, req: Request<Invocation>) -> Result<Response<Invocation>, Status> {
        let inv = req.into_inner();
        let route = u16::try_from(inv.route)
            .ok()
            .and_then(|r| self.chain.route(r))
            .ok_or_else(|| Status::invalid_argument(format!("unknown route {}", inv.route)))?;
        let node = u16::try_from(inv.node)
            .ok()
            .filter(|&n| (n as usize) < route.nodes.len() && route.node(n).func == self.me)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "node {} of route {} is not function {}",
                    inv.node, route.name, self.me
                ))
            })?;
        let mut state: State = inv.state.unwrap_or_default().into();
        let mut body = inv.body;
        self.handler.on_request(&mut state, &mut body).map_err(body_full)?;
        let mut from = None;
        loop {
            match route.next(node, from) {
                Step::TailCall(c) => {
                    let next = Invocation { route: inv.route, node: c as u32, state: Some(state.into()), body };
                    return self.peers.invoke(route.node(c).func, next).await.map(Response::new);
                }
                Step::Call(c) => {
                    let call = Invocation { route: inv.route, node: c as u32, state: Some(state.into()), body };
                    let result = self.peers.invoke(route.node(c).func, call).await?;
                    state = result.state.unwrap_or_default().into();
                    body = result.body;
                    self.handler.on_return(&mut state, &mut body, route.node(c).func).map_err(body_full)?;
                    from = Some(c);
                }
                Step::Return(_) | Step::Reply => {
                    return Ok(Response::new(Invocation {
                        route: inv.route,
                        node: inv.node,
                        state: Some(state.into()),
                        body,
                    }))
                }
            }
        }
    }
}
