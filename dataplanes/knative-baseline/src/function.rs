//! A chain function served over gRPC.
//!
//! One process per function. On `Invoke` it runs the workloads handler on the request
//! ([`workloads::visit`]), then follows the route's step machine: a tail call (pipeline)
//! forwards the request to the next function and returns that function's result unchanged; a
//! call (call tree) waits for the callee's result and visits the handler again with it;
//! `Return`/`Reply` answer the caller.

use crate::proto::function_client::FunctionClient;
use crate::proto::function_server::{Function, FunctionServer};
use crate::proto::Invocation;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use workloads::{visit, Chain, FnId, Handler, State, Step};

use crate::BoxError;
use dataplane_api::component::{self, parse_peer};
use std::path::PathBuf;

/// Command line of a function process (backends `grpc` and `knative`).
#[derive(clap::Args, Debug)]
pub struct FunctionArgs {
    /// The chain spec (the driver passes the copy it validated).
    #[arg(long)]
    pub chain: PathBuf,
    #[arg(long)]
    pub id: FnId,
    /// A callee's address, `ID=HOST:PORT`; repeat for every function this one may call.
    #[arg(long = "peer", value_parser = parse_peer)]
    pub peers: Vec<(FnId, String)>,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Where a component listens and how it reaches its peers.
#[derive(clap::Args, Debug)]
pub struct NetArgs {
    /// Send every call to this `HOST:PORT` (an ingress) with the peer's address as the HTTP
    /// authority, instead of connecting to the peer directly.
    #[arg(long)]
    pub via: Option<String>,
    /// Bind this address instead of using the socket passed by the driver (fd 3): for running
    /// outside the driver, e.g. in a container on Knative.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

impl NetArgs {
    pub fn listener(&self) -> std::io::Result<std::net::TcpListener> {
        match self.listen {
            None => component::take_listener(),
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr)?;
                l.set_nonblocking(true)?;
                Ok(l)
            }
        }
    }
}

/// Run a function process until it is killed.
pub fn main(args: FunctionArgs) -> Result<(), BoxError> {
    let chain = Arc::new(workloads::load_staged_chain(&args.chain)?);
    let id = args.id;
    let workers = chain.function(id).ok_or_else(|| format!("chain {} has no function {id}", chain.name))?.workers;
    component::set_process_name(&format!("sb-fn-{id}"));
    let listener = args.net.listener()?;
    let rt = component::runtime(workers as usize)?;
    rt.block_on(async move {
        let max = crate::max_message(&chain);
        let peers = Peers::new(&args.peers, args.net.via.as_deref(), max)?;
        let svc = FunctionService::new(chain, id, peers).ok_or("unknown function")?;
        // Accepted sockets need TCP_NODELAY themselves: the builder's option only applies to
        // listeners tonic binds, and Nagle + delayed ACK would add 40 ms.
        let incoming = tonic::transport::server::TcpIncoming::from(tokio::net::TcpListener::from_std(listener)?)
            .with_nodelay(Some(true));
        component::signal_ready();
        tonic::transport::Server::builder().add_service(svc.into_server(max)).serve_with_incoming(incoming).await?;
        Ok(())
    })
}

/// Clients for the functions a component calls, keyed by function id.
#[derive(Clone)]
pub struct Peers {
    clients: HashMap<FnId, FunctionClient<Channel>>,
}

impl Peers {
    /// `addrs`: (function id, `host:port`) pairs. Connections are made lazily on first use.
    ///
    /// With `via` (an ingress's `host:port`), every call is sent there instead, with the peer's
    /// address as the HTTP/2 `:authority`, which is how Knative routes calls between services.
    pub fn new(addrs: &[(FnId, String)], via: Option<&str>, max_message: usize) -> Result<Self, BoxError> {
        let mut clients = HashMap::new();
        for (id, addr) in addrs {
            let endpoint = match via {
                None => Endpoint::from_shared(format!("http://{addr}"))?,
                Some(via) => Endpoint::from_shared(format!("http://{via}"))?.origin(format!("http://{addr}").parse()?),
            };
            let channel = endpoint.tcp_nodelay(true).connect_lazy();
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
        let mut from = None;
        loop {
            match visit(route, node, from, self.handler.as_ref(), &mut state, &mut body).map_err(body_full)? {
                Step::TailCall(_) if inv.single => {
                    // The caller drives the pipeline: answer with this function's result.
                    let out =
                        Invocation { route: inv.route, node: inv.node, state: Some(state.into()), body, single: true };
                    return Ok(Response::new(out));
                }
                Step::TailCall(c) => {
                    let next =
                        Invocation { route: inv.route, node: c as u32, state: Some(state.into()), body, single: false };
                    return self.peers.invoke(route.node(c).func, next).await.map(Response::new);
                }
                Step::Call(c) => {
                    let call =
                        Invocation { route: inv.route, node: c as u32, state: Some(state.into()), body, single: false };
                    let result = self.peers.invoke(route.node(c).func, call).await?;
                    state = result.state.unwrap_or_default().into();
                    body = result.body;
                    from = Some(c);
                }
                Step::Return(_) | Step::Reply => {
                    return Ok(Response::new(Invocation {
                        route: inv.route,
                        node: inv.node,
                        state: Some(state.into()),
                        body,
                        single: inv.single,
                    }))
                }
            }
        }
    }
}
