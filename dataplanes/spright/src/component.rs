//! The component processes of every SPRIGHT backend: `<exe> component <backend> gateway|function
//! --chain=FILE --pool=POOL --chain-id=N [--id=F] <transport arguments>`. The gateway gets its
//! HTTP listener as fd 3; transport descriptors follow ([`crate::Who::take_fd`]). Timeout and
//! pool geometry come from the chain spec, which every process loads.

use crate::function::Function;
use crate::gateway::{Gateway, OnLane};
use crate::{Backend, BoxError, Connect, Transport, Who};
use dataplane_api::component::{self, signal_ready};
use dataplane_api::gateway::{accept_loop, serve, serve_connection};
use dataplane_api::placement::{nth_cpu, set_affinity};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use workloads::{Chain, FnId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// The chain's HTTP entry (fd 3 is its listener).
    Gateway,
    /// One chain function (needs --id).
    Function,
}

#[derive(clap::Parser)]
#[command(about = "A process of a SPRIGHT backend (started by `spright-bench run`)")]
struct Cli<A: clap::Args> {
    #[arg(value_enum)]
    part: Part,
    /// The function's id.
    #[arg(long, required_if_eq("part", "function"))]
    id: Option<FnId>,
    /// The gateway's HTTP event-loop threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The gateway runs an event loop per lane, pinned (option `gateway-cpus=by-lane`).
    #[arg(long)]
    by_lane: bool,
    /// The gateway sends each lane's descriptors together (option `gateway-send=batch`).
    #[arg(long)]
    send_batch: bool,
    /// The function relays descriptors instead of running (option `function-runtime=relay`).
    #[arg(long)]
    relay: bool,
    /// The chain spec (the copy the driver validated).
    #[arg(long)]
    chain: PathBuf,
    /// The chain's pool file, or the name of a pool the transport keeps.
    #[arg(long)]
    pool: PathBuf,
    /// The chain's security-domain id (the upper half of its keys).
    #[arg(long)]
    chain_id: u16,
    #[command(flatten)]
    transport: A,
}

/// Run one component process of backend `b` until it is killed or its transport closes.
pub fn main<B: Backend>(b: &B, args: Vec<String>) -> Result<(), BoxError> {
    component::init_logging();
    let cli =
        <Cli<B::Args> as clap::Parser>::try_parse_from(std::iter::once(format!("component {}", B::NAME)).chain(args))?;
    let chain = Arc::new(workloads::load_staged_chain(&cli.chain)?);
    let who = match (cli.part, cli.id) {
        (Part::Function, Some(id)) => Who::Function(id),
        _ => Who::Gateway,
    };
    let c = Connect { who, chain: &chain, chain_id: cli.chain_id, pool: &cli.pool, args: &cli.transport };
    match who {
        Who::Gateway => gateway(b, &c, chain.clone(), cli.threads, cli.by_lane, cli.send_batch),
        Who::Function(id) => function(b, &c, id, chain.clone(), cli.relay),
    }
}

/// The gateway: HTTP on `threads` event-loop threads (one runtime; with several, tokio spreads
/// the connections over them), or on an event loop per lane (`by_lane`).
fn gateway<B: Backend>(
    b: &B,
    c: &Connect<'_, B::Args>,
    chain: Arc<Chain>,
    threads: usize,
    by_lane: bool,
    send_batch: bool,
) -> Result<(), BoxError> {
    component::set_process_name("sb-gateway");
    let (transport, pool) = b.connect(c)?;
    let listener = component::take_listener()?;
    let (chain_id, timeout) = (c.chain_id, Duration::from_millis(chain.gateway_timeout_ms));
    if by_lane {
        return gateway_by_lane(chain_id, pool, transport, timeout, listener, chain, send_batch);
    }
    if !transport.lanes().is_empty() {
        // HTTP and returning descriptors in one event loop.
        let rt = component::runtime(threads)?;
        return rt.block_on(async move {
            let gw = Gateway::new(chain_id, pool, transport, timeout)?;
            let gw = Arc::new(if send_batch { gw.send_in_batches() } else { gw });
            let rx = tokio::spawn(gw.clone().receive());
            signal_ready();
            tokio::select! {
                r = serve(listener, chain, gw) => r?,
                r = rx => r.map_err(|e| std::io::Error::other(e.to_string()))??,
            }
            Ok(())
        });
    }
    // A polling transport: HTTP on threads of its own, the receiver here.
    let gw = Arc::new(Gateway::new(chain_id, pool, transport, timeout)?);
    let http = gw.clone();
    std::thread::Builder::new().name("http".into()).spawn(move || -> std::io::Result<()> {
        component::runtime(threads)?.block_on(serve(listener, chain, http))
    })?;
    signal_ready();
    gw.receive_blocking()?;
    Ok(())
}

/// The gateway with an event loop per lane (option `gateway-cpus=by-lane`): lane `i`'s loop
/// runs alone on a thread pinned to the `i`-th CPU the process may use
/// ([`dataplane_api::placement::nth_cpu`]), receives the descriptors that come back on its
/// lane and serves the connections dealt to it, round robin, by lane 0's loop, which accepts.
/// Its requests take slots of the pool's free list of its lane ([`OnLane`]), so, while the
/// list has some, a request is read, sent, received and answered on one thread and core. The
/// pool must keep a free list per lane.
fn gateway_by_lane<T: Transport>(
    chain_id: u16,
    pool: shm::Pool,
    transport: T,
    timeout: Duration,
    listener: std::net::TcpListener,
    chain: Arc<Chain>,
    send_batch: bool,
) -> Result<(), BoxError> {
    let lanes = transport.lanes().len();
    if lanes == 0 {
        return Err("gateway-cpus=by-lane needs a transport with receive lanes; this one has none".into());
    }
    if pool.stripes() as usize != lanes {
        return Err(format!("the pool keeps {} free lists and the gateway has {lanes} lanes", pool.stripes()).into());
    }
    let cpus = dataplane_api::Placement::allowed_here();
    let loops = (0..lanes)
        .map(|_| tokio::runtime::Builder::new_current_thread().enable_all().build())
        .collect::<std::io::Result<Vec<_>>>()?;
    let gw = Gateway::new_on(chain_id, pool, transport, timeout, |i| loops[i].handle().clone())?;
    let gw = Arc::new(if send_batch { gw.send_in_batches() } else { gw });
    let (deal, inboxes): (Vec<_>, Vec<_>) = (0..lanes).map(|_| mpsc::unbounded_channel()).unzip();
    let mut accept = Some((listener, deal));
    let (done, first_done) = std::sync::mpsc::channel();
    for (lane, (rt, inbox)) in loops.into_iter().zip(inboxes).enumerate() {
        let on_lane = Arc::new(OnLane { gateway: gw.clone(), lane });
        let (chain, done, cpu, accept) = (chain.clone(), done.clone(), nth_cpu(lane, &cpus), accept.take());
        std::thread::Builder::new().name(format!("lane-{lane}")).spawn(move || {
            if let Some(cpu) = cpu {
                if let Err(e) = set_affinity(0, &[cpu]) {
                    tracing::warn!("cannot pin gateway lane {lane} to CPU {cpu}: {e}");
                }
            }
            let _ = done.send(rt.block_on(serve_lane(on_lane, chain, inbox, accept)));
        })?;
    }
    signal_ready();
    first_done.recv().unwrap_or(Ok(()))?;
    Ok(())
}

/// One lane's event loop ([`gateway_by_lane`]): its returning descriptors, the connections dealt
/// to it and, on lane 0, the accepting and dealing; until the transport closes (or one fails).
async fn serve_lane<T: Transport>(
    on_lane: Arc<OnLane<T>>,
    chain: Arc<Chain>,
    mut inbox: mpsc::UnboundedReceiver<std::net::TcpStream>,
    accept: Option<(std::net::TcpListener, Vec<mpsc::UnboundedSender<std::net::TcpStream>>)>,
) -> std::io::Result<()> {
    let lane = on_lane.lane;
    let serve = async {
        while let Some(s) = inbox.recv().await {
            match tokio::net::TcpStream::from_std(s) {
                Ok(s) => drop(tokio::spawn(serve_connection(s, chain.clone(), on_lane.clone()))),
                Err(e) => tracing::warn!("gateway lane {lane}: cannot take a connection: {e}"),
            }
        }
        Ok(()) // the acceptor is gone
    };
    let accept = async {
        let Some((listener, deal)) = accept else { return std::future::pending().await };
        let mut next = 0;
        accept_loop(listener, |s| match s.into_std() {
            Ok(s) => {
                let _ = deal[next % deal.len()].send(s);
                next += 1;
            }
            Err(e) => tracing::warn!("gateway: cannot hand a connection to a lane: {e}"),
        })
        .await
    };
    tokio::select! {
        r = on_lane.gateway.clone().run_lane(lane) => r,
        r = accept => r,
        r = serve => r,
    }
}

/// A function: SPRIGHT's function runtime, or with `relay` a bare relay ([`crate::relay`]).
fn function<B: Backend>(
    b: &B,
    c: &Connect<'_, B::Args>,
    id: FnId,
    chain: Arc<Chain>,
    relay: bool,
) -> Result<(), BoxError> {
    let f = chain.function(id).ok_or_else(|| format!("chain {} has no function {id}", chain.name))?;
    let (workers, handler) = (f.workers as usize, f.handler.build(id));
    component::set_process_name(&format!("sb-fn-{id}"));
    let (transport, pool) = b.connect(c)?;
    if relay {
        let next = crate::relay::successors(&chain)?.get(&id).copied();
        let next =
            next.ok_or_else(|| format!("function {id} is on no route of chain {}: nothing to relay", chain.name))?;
        signal_ready();
        crate::relay::serve(transport, pool, shm::key(c.chain_id, id), next, workers)?;
        return Ok(());
    }
    let f = Arc::new(Function::new(chain.clone(), shm::key(c.chain_id, id), pool, transport, handler));
    signal_ready();
    f.serve(workers)?;
    Ok(())
}
