//! Backend `s-spright`: deployment and the component processes.

use crate::function::Function;
use crate::gateway::SkMsgDispatch;
use crate::node::{DropReason, EbpfNode};
use clap::Parser;
use dataplane_api::component;
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::{
    stage_chain, Component, ComponentSpec, Counter, Dataplane, DeployEnv, DeployError, Deployment, Endpoint, Exit,
    Role, Supervisor,
};
use shm::{key, Pool};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use workloads::{Chain, FnId};

pub struct SSpright;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(name = "component s-spright", about = "A process of the s-spright backend (started by `spright-bench run`)")]
enum Cmd {
    /// HTTP/1.1 entry point; fd 3 is its listener, fd 4 its socket-map socket.
    Gateway {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// One chain function; fd 3 is its socket-map socket.
    Function {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        id: FnId,
    },
}

#[derive(clap::Args)]
struct Common {
    #[arg(long)]
    chain: PathBuf,
    #[arg(long)]
    pool: PathBuf,
    /// The chain's security-domain id (the upper half of its socket-map keys).
    #[arg(long)]
    chain_id: u16,
}

/// A connected loopback TCP pair: the first end goes into the socket map and to a component,
/// the second is held by the deployment so the connection stays up.
fn socket_pair() -> Result<(TcpStream, TcpStream), DeployError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(DeployError::io("bind"))?;
    let a =
        TcpStream::connect(l.local_addr().map_err(DeployError::io("address"))?).map_err(DeployError::io("connect"))?;
    let (b, _) = l.accept().map_err(DeployError::io("accept"))?;
    Ok((a, b))
}

struct SkMsgDeployment {
    supervisor: Option<Supervisor>,
    endpoint: Endpoint,
    node: Arc<Mutex<EbpfNode>>,
    chain_id: u16,
    /// (component name, key, local port) of every registered socket.
    keys: Vec<(String, u32, u16)>,
    peers: Vec<TcpStream>,
    pool: Option<Pool>,
}

impl Deployment for SkMsgDeployment {
    fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    fn components(&self) -> Vec<Component> {
        self.supervisor.as_ref().map(|s| s.components()).unwrap_or_default()
    }

    fn counters(&self) -> Vec<Counter> {
        let node = self.node.lock().unwrap_or_else(|e| e.into_inner());
        // The chain's security-domain id: the upper half of its socket-map keys.
        let mut out = vec![Counter { component: "node".into(), name: "chain_id".into(), value: self.chain_id as u64 }];
        for (name, key, _) in &self.keys {
            if let Some((msgs, bytes)) = node.delivered(*key) {
                out.push(Counter { component: name.clone(), name: "ebpf_messages".into(), value: msgs });
                out.push(Counter { component: name.clone(), name: "ebpf_bytes".into(), value: bytes });
            }
        }
        for (reason, label) in [
            (DropReason::CrossChain, "ebpf_dropped_cross_chain"),
            (DropReason::Short, "ebpf_dropped_short"),
            (DropReason::UnknownDestination, "ebpf_dropped_unknown_destination"),
            (DropReason::UnknownSender, "ebpf_dropped_unknown_sender"),
        ] {
            out.push(Counter { component: "node".into(), name: label.into(), value: node.dropped(reason) });
        }
        if let Some(p) = &self.pool {
            out.push(Counter { component: "pool".into(), name: "bad_descriptors".into(), value: p.bad_descriptors() });
            out.push(Counter { component: "pool".into(), name: "free_slots".into(), value: p.free_count() as u64 });
            out.push(Counter { component: "pool".into(), name: "slots".into(), value: p.slots() as u64 });
        }
        out
    }

    fn teardown(mut self: Box<Self>) -> Vec<Exit> {
        self.shutdown()
    }
}

impl SkMsgDeployment {
    fn shutdown(&mut self) -> Vec<Exit> {
        let exits = self.supervisor.take().map(Supervisor::shutdown).unwrap_or_default();
        let mut node = self.node.lock().unwrap_or_else(|e| e.into_inner());
        for (_, key, port) in self.keys.drain(..) {
            node.unregister(key, port);
        }
        self.peers.clear();
        self.pool = None; // unmaps and unlinks the pool file
        exits
    }
}

impl Drop for SkMsgDeployment {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Dataplane for SSpright {
    fn name(&self) -> &'static str {
        "s-spright"
    }

    fn label(&self) -> &'static str {
        "S-SPRIGHT: 16-byte descriptors via eBPF SK_MSG redirect in a SOCKHASH, payload in a hugepage pool, event-driven"
    }

    fn deploy(&self, chain: &Chain, env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError> {
        let spec = stage_chain(chain, env)?;
        let node = EbpfNode::shared().map_err(|e| DeployError::Unsupported(e.to_string()))?;
        let chain_id = node.lock().unwrap_or_else(|e| e.into_inner()).new_chain_id();
        let (pool, pool_path) = shm::create_chain_pool(chain, &chain_id.to_string())
            .map_err(|e| DeployError::Unsupported(e.to_string()))?;
        let mut dep = SkMsgDeployment {
            supervisor: Some(Supervisor::new(env, self.name())?),
            endpoint: Endpoint { addr: "127.0.0.1:0".parse().expect("literal"), host: None },
            node: node.clone(),
            chain_id,
            keys: Vec::new(),
            peers: Vec::new(),
            pool: Some(pool),
        };
        let common = [
            format!("--chain={}", spec.display()),
            format!("--pool={}", pool_path.display()),
            format!("--chain-id={chain_id}"),
        ];
        let timeout = format!("--timeout-ms={}", chain.gateway_timeout_ms);
        let register = |dep: &mut SkMsgDeployment, name: &str, func: FnId| -> Result<TcpStream, DeployError> {
            let (a, b) = socket_pair()?;
            let k = key(chain_id, func);
            let port = a.local_addr().map_err(DeployError::io("address"))?.port();
            node.lock()
                .unwrap_or_else(|e| e.into_inner())
                .register(k, &a)
                .map_err(|e| DeployError::Unsupported(format!("register {name} in the socket map: {e}")))?;
            dep.keys.push((name.to_string(), k, port));
            dep.peers.push(b);
            Ok(a)
        };
        for f in &chain.functions {
            let name = format!("fn-{}-{}", f.id, f.name);
            let sock = register(&mut dep, &name, f.id)?;
            let mut c =
                ComponentSpec::new(&name, Role::Function).arg("function").arg(format!("--id={}", f.id)).fd(sock);
            c.args.extend(common.iter().cloned());
            dep.supervisor.as_mut().expect("set above").start(c)?;
        }
        let sock = register(&mut dep, "gateway", 0)?;
        let (l, addr) = loopback_listener()?;
        dep.endpoint.addr = addr;
        let mut g = ComponentSpec::new("gateway", Role::Gateway).arg("gateway").arg(timeout).fd(l).fd(sock);
        g.args.extend(common.iter().cloned());
        dep.supervisor.as_mut().expect("set above").start(g)?;
        Ok(Box::new(dep))
    }

    fn component_main(&self, args: Vec<String>) -> Result<(), BoxError> {
        component::init_logging();
        let cmd = Cmd::try_parse_from(std::iter::once("component s-spright".to_string()).chain(args))?;
        match cmd {
            Cmd::Function { common: Common { chain, pool, chain_id }, id } => {
                let chain = Arc::new(workloads::load_chain(&chain)?);
                let f = chain.function(id).ok_or_else(|| format!("chain {} has no function {id}", chain.name))?;
                let workers = f.workers as usize;
                let handler = f.handler.build(id);
                component::set_process_name(&format!("sb-fn-{id}"));
                let socket = component::take_fd(0)?;
                let pool = Pool::open(&pool)?;
                let f = Arc::new(Function { chain, chain_id, id, pool, socket, handler, bad: Default::default() });
                component::signal_ready("");
                f.serve(workers)?;
                Ok(())
            }
            Cmd::Gateway { common: Common { chain, pool, chain_id }, timeout_ms } => {
                let chain = Arc::new(workloads::load_chain(&chain)?);
                component::set_process_name("sb-gateway");
                let listener = component::take_listener()?;
                let socket = component::take_fd(1)?;
                let pool = Arc::new(Pool::open(&pool)?);
                let rt = component::runtime(1)?;
                rt.block_on(async move {
                    set_nonblocking(&socket)?;
                    let dispatch = Arc::new(SkMsgDispatch {
                        chain_id,
                        pool,
                        // SAFETY: an OwnedFd keeps its descriptor open and unchanged for as long
                        // as the AsyncFd that owns it lives.
                        socket: Arc::new(
                            unsafe { tokio::io::unix::AsyncFd::register(socket) }.map_err(|e| e.into_parts().1)?,
                        ),
                        waiters: Default::default(),
                        timeout: Duration::from_millis(timeout_ms),
                    });
                    let rx = tokio::spawn(dispatch.clone().receive_loop());
                    component::signal_ready("");
                    tokio::select! {
                        r = dataplane_api::gateway::serve(listener, chain, dispatch) => r?,
                        r = rx => r.map_err(|e| std::io::Error::other(e.to_string()))??,
                    }
                    Ok::<_, BoxError>(())
                })
            }
        }
    }
}

fn set_nonblocking(fd: &std::os::fd::OwnedFd) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
