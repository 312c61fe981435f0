//! The component processes of every SPRIGHT backend: `<exe> component <backend> gateway|function
//! --chain=FILE --pool=POOL --chain-id=N [--id=F] <transport arguments>`. The gateway gets its
//! HTTP listener as fd 3; transport descriptors follow ([`crate::Who::take_fd`]). Timeout and
//! pool geometry come from the chain spec, which every process loads.

use crate::function::Function;
use crate::gateway::Gateway;
use crate::{Backend, BoxError, Connect, Transport, Who};
use dataplane_api::component::{self, signal_ready};
use dataplane_api::gateway::serve;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
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
        Who::Gateway => gateway(b, &c, chain.clone(), cli.threads),
        Who::Function(id) => function(b, &c, id, chain.clone()),
    }
}

/// The gateway: HTTP on `threads` event-loop threads (one runtime; with several, tokio spreads
/// the connections over them).
fn gateway<B: Backend>(b: &B, c: &Connect<'_, B::Args>, chain: Arc<Chain>, threads: usize) -> Result<(), BoxError> {
    component::set_process_name("sb-gateway");
    let (transport, pool) = b.connect(c)?;
    let listener = component::take_listener()?;
    let (chain_id, timeout) = (c.chain_id, Duration::from_millis(chain.gateway_timeout_ms));
    if !transport.lanes().is_empty() {
        // HTTP and returning descriptors in one event loop.
        let rt = component::runtime(threads)?;
        return rt.block_on(async move {
            let gw = Arc::new(Gateway::new(chain_id, pool, transport, timeout)?);
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

fn function<B: Backend>(b: &B, c: &Connect<'_, B::Args>, id: FnId, chain: Arc<Chain>) -> Result<(), BoxError> {
    let f = chain.function(id).ok_or_else(|| format!("chain {} has no function {id}", chain.name))?;
    let (workers, handler) = (f.workers as usize, f.handler.build(id));
    component::set_process_name(&format!("sb-fn-{id}"));
    let (transport, pool) = b.connect(c)?;
    let f = Arc::new(Function::new(chain.clone(), shm::key(c.chain_id, id), pool, transport, handler));
    signal_ready();
    f.serve(workers)?;
    Ok(())
}
