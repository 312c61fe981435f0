//! Backend `knative`: a local model of Knative Serving's data path, every component its own
//! process on loopback.
//!
//! ```text
//! client -> ingress -> qp -> gateway -> ingress -> qp -> fn1 -> ingress -> qp -> fn2 ...
//!              \-> activator (while a service has no instance, or per target-burst-capacity)
//! ```
//!
//! The chain's HTTP entry (the shared gateway, translating the client's HTTP request into the
//! chain's first gRPC call) is itself a Knative service, as the paper's frontend and HTTP proxy
//! are: the client's request enters through the ingress, and so does every call between
//! functions, which the gRPC function servers send to the ingress with the callee's host as
//! `:authority`. Scaling and routing are done by [`crate::control`].

use crate::activator::Activator;
use crate::admin::{metric, Admin};
use crate::control::{ControlPlane, Plane};
use crate::function::FunctionArgs;
use crate::gateway::GatewayArgs;
use crate::ingress::Ingress;
use crate::names;
use crate::proxy;
use crate::queue_proxy::{QueueAdmin, QueueProxy};
use crate::routes::RoutesAdmin;
use crate::services;
use crate::BoxError;
use clap::Parser;
use dataplane_api::component;
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::{
    stage_chain, ColdStart, Component, ComponentSpec, Counter, Dataplane, DeployEnv, DeployError, Deployment, Endpoint,
    Exit, OptionSpec, Role, Supervisor,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use workloads::Chain;

pub struct Knative;

const PIPELINE: OptionSpec = OptionSpec::choice(
    "pipeline",
    "how pipeline routes run: tail (each function calls the next through the ingress) or proxy (the chain's \
     HTTP entry calls each function in turn, as the paper drove motion and parking on Knative)",
    &["tail", "proxy"],
);
const OPTIONS: &[OptionSpec] = &[PIPELINE];

#[derive(Parser)]
#[command(name = "component knative", about = "A process of the knative backend (started by `spright-bench run`)")]
enum Cmd {
    /// The ingress gateway: HTTP/1.1 + h2c reverse proxy routing by Host (fd 3), admin (fd 4).
    Ingress,
    /// The activator: buffers requests for services without an instance (fd 3), admin (fd 4).
    Activator {
        /// The control plane's address (scale-up requests, cold-start reports).
        #[arg(long)]
        autoscaler: SocketAddr,
        /// Answer 503 when no instance is ready within this many milliseconds.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// A queue-proxy in front of one function instance (fd 3), metrics and readiness (fd 4).
    QueueProxy {
        /// The Knative service it belongs to (a metrics label).
        #[arg(long)]
        service: String,
        /// The function instance's address.
        #[arg(long)]
        upstream: SocketAddr,
        /// Requests forwarded at once; more wait in the queue. 0 = unlimited.
        #[arg(long, default_value_t = 32)]
        container_concurrency: u32,
        /// Answer 504 after this many milliseconds (the revision's timeoutSeconds).
        #[arg(long, default_value_t = 300_000)]
        timeout_ms: u64,
        /// Probe the function with HTTP/2 (a gRPC function) rather than HTTP/1.1.
        #[arg(long)]
        h2c: bool,
    },
    /// The chain's HTTP entry, calling the first function through the ingress.
    Gateway(GatewayArgs),
    /// One chain function serving gRPC, calling others through the ingress.
    Function(FunctionArgs),
}

impl Dataplane for Knative {
    fn name(&self) -> &'static str {
        "knative"
    }

    fn label(&self) -> &'static str {
        "local model of Knative's data path (ingress, queue-proxy, activator as processes on loopback), not Knative itself"
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn deploy(&self, chain: &Chain, env: &DeployEnv) -> Result<Box<dyn Deployment>, DeployError> {
        let chain_file = stage_chain(chain, env)?;
        let mut sup = Supervisor::new(env, self.name())?;
        let control = ControlPlane::listen()?;
        let (ingress_l, ingress) = loopback_listener()?;
        let (ingress_admin_l, ingress_admin) = loopback_listener()?;
        sup.start(ComponentSpec::new("ingress", Role::Ingress).arg("ingress").fd(ingress_l).fd(ingress_admin_l))?;
        let (activator_l, activator) = loopback_listener()?;
        let (activator_admin_l, activator_admin) = loopback_listener()?;
        sup.start(
            ComponentSpec::new("activator", Role::Activator)
                .arg("activator")
                .arg(format!("--autoscaler={}", control.addr()))
                .arg(format!("--timeout-ms={}", chain.gateway_timeout_ms))
                .fd(activator_l)
                .fd(activator_admin_l),
        )?;
        let proxy = env.options.is(OPTIONS, &PIPELINE, "proxy");
        let services = services::services(chain, names::NAMESPACE, names::DOMAIN, proxy);
        let peer_args = services::peer_args(&services);
        let gateway_host = services[0].host.clone();
        // (service, its queue-proxies' component name prefix) of every function.
        let functions = services
            .iter()
            .filter(|s| matches!(s.workload, services::Workload::Function(_)))
            .map(|s| (s.name.clone(), format!("qp-{}", s.short)))
            .collect();
        let plane = Plane {
            env: env.clone(),
            chain_file,
            ingress,
            ingress_admin,
            activator,
            activator_admin,
            peer_args,
            grace: chain.scale_to_zero_grace,
            stable_window: chain.stable_window,
        };
        let control = control.start(plane, services)?;
        let admin = Admin::new().map_err(DeployError::host("create the admin HTTP client"))?;
        Ok(Box::new(KnativeDeployment {
            control,
            sup,
            endpoint: Endpoint { addr: ingress, host: Some(gateway_host) },
            ingress_admin,
            activator_admin,
            admin,
            functions,
        }))
    }

    fn component_main(&self, args: Vec<String>) -> Result<(), BoxError> {
        component::init_logging();
        let cmd = Cmd::try_parse_from(std::iter::once("component knative".to_string()).chain(args))?;
        match cmd {
            Cmd::Gateway(args) => crate::gateway::main(args),
            Cmd::Function(args) => crate::function::main(args),
            Cmd::Ingress => {
                component::set_process_name("sb-ingress");
                let (data, admin) = two_listeners()?;
                let ingress = Arc::new(Ingress::default());
                let routes = ingress.routes.clone();
                let i2 = ingress.clone();
                serve_pair(2, data, ingress, admin, RoutesAdmin { routes, metrics: move || i2.metrics() })
            }
            Cmd::Activator { autoscaler, timeout_ms } => {
                component::set_process_name("sb-activator");
                let (data, admin) = two_listeners()?;
                let act = Arc::new(Activator::new(autoscaler, Duration::from_millis(timeout_ms)));
                let routes = act.routes.clone();
                let a2 = act.clone();
                serve_pair(1, data, act, admin, RoutesAdmin { routes, metrics: move || a2.metrics() })
            }
            Cmd::QueueProxy { service, upstream, container_concurrency, timeout_ms, h2c } => {
                component::set_process_name("sb-queue-proxy");
                let (data, admin) = two_listeners()?;
                let rt = component::runtime(1)?;
                rt.block_on(async move {
                    let qp = Arc::new(QueueProxy::new(
                        service,
                        upstream,
                        container_concurrency,
                        Duration::from_millis(timeout_ms),
                    ));
                    qp.wait_ready(h2c).await;
                    tokio::spawn(proxy::serve(admin, Arc::new(QueueAdmin(qp.clone()))));
                    component::signal_ready();
                    proxy::serve(data, qp).await?;
                    Ok(())
                })
            }
        }
    }
}

/// The data (fd 3) and admin (fd 4) sockets the driver passed.
fn two_listeners() -> std::io::Result<(std::net::TcpListener, std::net::TcpListener)> {
    let data = component::take_listener()?;
    let admin = std::net::TcpListener::from(component::take_fd(1)?);
    admin.set_nonblocking(true)?;
    Ok((data, admin))
}

fn serve_pair<H: proxy::Handle, A: proxy::Handle>(
    workers: usize,
    data: std::net::TcpListener,
    handler: Arc<H>,
    admin: std::net::TcpListener,
    admin_handler: A,
) -> Result<(), BoxError> {
    let rt = component::runtime(workers)?;
    rt.block_on(async move {
        tokio::spawn(proxy::serve(admin, Arc::new(admin_handler)));
        component::signal_ready();
        proxy::serve(data, handler).await?;
        Ok(())
    })
}

/// Fields in teardown order: the control plane (it stops scaling, then the instances), then the
/// ingress and the activator. [`KnativeDeployment::stop`] and `Drop` follow it explicitly.
struct KnativeDeployment {
    control: ControlPlane,
    sup: Supervisor,
    endpoint: Endpoint,
    ingress_admin: SocketAddr,
    activator_admin: SocketAddr,
    admin: Admin,
    functions: Vec<(String, String)>,
}

impl KnativeDeployment {
    fn stop(&mut self) -> Vec<Exit> {
        let mut exits = self.control.shutdown();
        exits.extend(self.sup.stop());
        exits
    }
}

impl Drop for KnativeDeployment {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Deployment for KnativeDeployment {
    fn endpoint(&self) -> Endpoint {
        self.endpoint.clone()
    }

    fn components(&self) -> Vec<Component> {
        let mut v = self.sup.components();
        v.extend(self.control.snapshot().components);
        v
    }

    /// Every proxy's metrics: the ingress, the activator, each live queue-proxy, and the last
    /// reading of queue-proxies that were scaled away.
    fn counters(&self) -> Vec<Counter> {
        let snap = self.control.snapshot();
        let mut out = Vec::new();
        let proxies = [("ingress".to_string(), self.ingress_admin), ("activator".to_string(), self.activator_admin)];
        for (name, addr) in proxies.into_iter().chain(snap.queue_proxies) {
            match self.admin.scrape(&name, addr) {
                Ok(c) => out.extend(c),
                Err(e) => tracing::warn!("cannot read {name} metrics: {e}"),
            }
        }
        out.extend(snap.retired);
        out
    }

    /// Ask the control plane for an instance of every function (what a wake-up request through
    /// the activator would cause) and wait, up to 30 s, until each has a ready queue-proxy.
    fn prewarm(&self) -> Result<bool, DeployError> {
        for (service, _) in &self.functions {
            self.control.scale_up(service);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let live = self.control.snapshot().queue_proxies;
            let cold: Vec<&str> = self
                .functions
                .iter()
                .filter(|(_, qp)| !live.iter().any(|(name, _)| name == qp || name.starts_with(&format!("{qp}."))))
                .map(|(s, _)| s.as_str())
                .collect();
            if cold.is_empty() {
                return Ok(true);
            }
            if std::time::Instant::now() > deadline {
                return Err(DeployError::NotServing(format!("no instance after a prewarm: {}", cold.join(", "))));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The activator reports each held request after its response has gone back, so the last
    /// reports may still be on their way when the load stops: wait (briefly) for as many as it
    /// says it sent.
    fn cold_starts(&self) -> Vec<ColdStart> {
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        loop {
            let sent = self
                .admin
                .scrape("activator", self.activator_admin)
                .map(|c| metric(&c, "activator_cold_reported_total"))
                .unwrap_or(0);
            let have = self.control.snapshot().cold_starts;
            if have.len() as u64 >= sent || std::time::Instant::now() > deadline {
                return have;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn teardown(mut self: Box<Self>) -> Vec<Exit> {
        self.stop()
    }
}
