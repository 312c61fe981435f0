//! The control plane of the Knative model: what Knative's autoscaler, controller and kubelet do,
//! run as threads of the driver (which is what starts processes here). It is not on the data
//! path and its CPU is not part of the system under test, as in the paper's measurements.
//!
//! - Scales each service on the concurrency its queue-proxies report (scraped from their
//!   metrics, as the autoscaler does), by [`autoscale::desired_instances`]; scales from zero when
//!   the activator asks (`POST /scale-up/<svc>` on the control endpoint).
//! - Programs the routes: the ingress sends a service's traffic to its queue-proxies, or to the
//!   activator ([`autoscale::via_activator`]); the activator learns each service's instances.
//! - Records every scale from zero with its timestamps, joined with the activator's report of
//!   each request that waited for it (`POST /cold-start/<svc>`): the cold-start breakdown.
//!
//! The deployment reads what it needs through [`ControlPlane::snapshot`].

use crate::admin::{metric, Admin};
use crate::autoscale;
use crate::proxy::{self, Body};
use crate::services::{ServiceSpec, Workload};
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::Activation;
use dataplane_api::{component, Supervisor};
use dataplane_api::{now_ns, ColdStart, Component, ComponentSpec, Counter, DeployEnv, DeployError, Exit, Role};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// The autoscaler's scrape period (Knative scrapes queue-proxies every second).
const SCRAPE_PERIOD: Duration = Duration::from_secs(1);

/// What instances need from the rest of the model.
pub struct Plane {
    pub env: DeployEnv,
    pub chain_file: std::path::PathBuf,
    pub ingress: SocketAddr,
    pub ingress_admin: SocketAddr,
    pub activator: SocketAddr,
    pub activator_admin: SocketAddr,
    /// `--peer` arguments every instance gets (`ID=<host>` for every function).
    pub peer_args: Vec<String>,
    pub grace: Duration,
    /// The autoscaler averages concurrency over this window (`stable-window`).
    pub stable_window: Duration,
}

/// What the control plane has running and has recorded, as of the moment it is read.
#[derive(Default, Clone)]
pub struct Snapshot {
    /// Every live instance's processes.
    pub components: Vec<Component>,
    /// Live queue-proxies: (component name, admin address).
    pub queue_proxies: Vec<(String, SocketAddr)>,
    /// Last counters of queue-proxies that were scaled away.
    pub retired: Vec<Counter>,
    pub cold_starts: Vec<ColdStart>,
}

enum Msg {
    ScaleUp(String),
    ColdReport { service: String, arrived: u64, routable: u64, done: u64 },
    Stop,
}

/// The control endpoint, bound before anything that needs its address (the activator) starts.
pub struct Listening {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Listening {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Start min-scale instances of every service, program the routes, and run the loop.
    pub fn start(self, plane: Plane, specs: Vec<ServiceSpec>) -> Result<ControlPlane, DeployError> {
        let admin = Admin::new().map_err(DeployError::host("create the admin HTTP client"))?;
        let shared = Arc::new(Mutex::new(Snapshot::default()));
        let services = specs.into_iter().map(Service::new).collect();
        let mut state = State { plane, services, shared: shared.clone(), exits: Vec::new(), admin };
        for i in 0..state.services.len() {
            let started =
                (0..state.services[i].spec.serving.min_scale).try_for_each(|_| state.add_instance(i).map(drop));
            if let Err(e) = started.and_then(|()| state.push_routes(i)) {
                state.shutdown();
                return Err(e);
            }
        }
        state.publish();
        let (tx, rx) = mpsc::channel();
        let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = {
            let api = Arc::new(ControlApi(tx.clone()));
            let listener = self.listener;
            listener.set_nonblocking(true).map_err(DeployError::io("control endpoint"))?;
            std::thread::Builder::new()
                .name("kn-control".into())
                .spawn(move || {
                    let rt = component::runtime(1)?;
                    rt.block_on(async move {
                        tokio::select! {
                            r = proxy::serve(listener, api) => r,
                            _ = stopped => Ok(()),
                        }
                    })
                })
                .map_err(DeployError::io("spawn the control endpoint"))?
        };
        let looper = std::thread::Builder::new()
            .name("kn-autoscaler".into())
            .spawn(move || state.run(rx))
            .map_err(DeployError::io("spawn the autoscaler"))?;
        Ok(ControlPlane { shared, tx, stop_server: Some(stop_server), server: Some(server), looper: Some(looper) })
    }
}

pub struct ControlPlane {
    shared: Arc<Mutex<Snapshot>>,
    tx: mpsc::Sender<Msg>,
    stop_server: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    looper: Option<std::thread::JoinHandle<Vec<Exit>>>,
}

impl ControlPlane {
    /// Bind the control endpoint (on loopback, port chosen by the kernel).
    pub fn listen() -> Result<Listening, DeployError> {
        let (listener, addr) = loopback_listener()?;
        Ok(Listening { listener, addr })
    }

    pub fn snapshot(&self) -> Snapshot {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Ask for an instance of `service` if it has none (as the activator does when a request
    /// finds it at zero).
    pub fn scale_up(&self, service: &str) {
        let _ = self.tx.send(Msg::ScaleUp(service.to_string()));
    }

    /// Stop scaling, stop every instance, and say how each ended. Only the first call does.
    pub fn shutdown(&mut self) -> Vec<Exit> {
        if let Some(stop) = self.stop_server.take() {
            let _ = stop.send(());
        }
        if let Some(s) = self.server.take() {
            if let Ok(Err(e)) = s.join() {
                tracing::warn!("control endpoint: {e}");
            }
        }
        let _ = self.tx.send(Msg::Stop);
        self.looper.take().and_then(|l| l.join().ok()).unwrap_or_default()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The control endpoint: the activator's scale-up requests and cold-start reports.
struct ControlApi(mpsc::Sender<Msg>);

impl proxy::Handle for ControlApi {
    async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let path = req.uri().path().to_string();
        let body = match req.into_body().collect().await {
            Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
            Err(e) => return proxy::text(StatusCode::BAD_REQUEST, format!("cannot read body: {e}\n")),
        };
        let msg = if let Some(svc) = path.strip_prefix("/scale-up/") {
            Some(Msg::ScaleUp(svc.to_string()))
        } else if let Some(svc) = path.strip_prefix("/cold-start/") {
            let v: Vec<u64> = body.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            (v.len() == 3).then(|| Msg::ColdReport {
                service: svc.to_string(),
                arrived: v[0],
                routable: v[1],
                done: v[2],
            })
        } else {
            None
        };
        match msg {
            Some(m) => {
                let _ = self.0.send(m);
                proxy::text(StatusCode::ACCEPTED, String::new())
            }
            None => proxy::text(StatusCode::NOT_FOUND, format!("no control action {path}\n")),
        }
    }
}

struct Instance {
    sup: Supervisor,
    fn_name: String,
    qp_name: String,
    qp: SocketAddr,
    qp_admin: SocketAddr,
    last: Vec<Counter>,
}

struct Service {
    spec: ServiceSpec,
    instances: Vec<Instance>,
    started: u32,
    last_requests: u64,
    last_active: Instant,
    window: VecDeque<(Instant, f64)>,
    /// What the ingress and the activator were last told (upstreams of each).
    pushed: Option<(String, String)>,
    activations: Vec<Activation>,
}

impl Service {
    fn new(spec: ServiceSpec) -> Self {
        Service {
            spec,
            instances: Vec::new(),
            started: 0,
            last_requests: 0,
            last_active: Instant::now(),
            window: VecDeque::new(),
            pushed: None,
            activations: Vec::new(),
        }
    }
}

struct State {
    plane: Plane,
    services: Vec<Service>,
    shared: Arc<Mutex<Snapshot>>,
    exits: Vec<Exit>,
    admin: Admin,
}

impl State {
    fn run(mut self, rx: mpsc::Receiver<Msg>) -> Vec<Exit> {
        let period =
            SCRAPE_PERIOD.min(self.plane.grace / 4).min(self.plane.stable_window / 4).max(Duration::from_millis(50));
        let mut next = Instant::now() + period;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Msg::ScaleUp(svc)) => self.scale_from_zero(&svc),
                Ok(Msg::ColdReport { service, arrived, routable, done }) => {
                    self.record_cold(&service, arrived, routable, done)
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.tick();
                    next = Instant::now() + period;
                }
            }
        }
        self.shutdown()
    }

    fn shutdown(&mut self) -> Vec<Exit> {
        for s in &mut self.services {
            for inst in s.instances.drain(..) {
                self.exits.extend(inst.sup.shutdown());
            }
        }
        std::mem::take(&mut self.exits)
    }

    /// Start one instance (function, then its queue-proxy) of service `i`.
    fn add_instance(&mut self, i: usize) -> Result<Activation, DeployError> {
        let p = &self.plane;
        let s = &mut self.services[i];
        let n = s.started;
        s.started += 1;
        let suffix = if n == 0 { String::new() } else { format!(".{n}") };
        let mut sup = Supervisor::new(&p.env, "knative")?;
        let (fn_listener, fn_addr) = loopback_listener()?;
        let (fn_name, role) = match s.spec.workload {
            Workload::Gateway => (format!("gateway{suffix}"), Role::Gateway),
            Workload::Function(_) => (format!("fn-{}{suffix}", s.spec.short), Role::Function),
        };
        // The chain function this instance serves (`short` is `<id>-<function>`), for placement.
        let function = match s.spec.workload {
            Workload::Function(id) => Some((id, s.spec.short.split_once('-').map_or("", |(_, n)| n).to_string())),
            Workload::Gateway => None,
        };
        let mut spec = ComponentSpec::new(&fn_name, role).fd(fn_listener).args(s.spec.command(
            &p.chain_file.display().to_string(),
            &p.ingress.to_string(),
            &p.peer_args,
        ));
        let spawn = now_ns();
        spec.function = function.clone();
        let process_ready = sup.start(spec)?;
        let (qp_listener, qp) = loopback_listener()?;
        let (admin_listener, qp_admin) = loopback_listener()?;
        let qp_name = format!("qp-{}{suffix}", s.spec.short);
        let sv = &s.spec.serving;
        let mut qspec = ComponentSpec::new(&qp_name, Role::Sidecar)
            .arg("queue-proxy")
            .arg(format!("--service={}", s.spec.name))
            .arg(format!("--upstream={fn_addr}"))
            .arg(format!("--container-concurrency={}", sv.container_concurrency))
            .arg(format!("--timeout-ms={}", sv.timeout.as_millis()))
            .fd(qp_listener)
            .fd(admin_listener);
        if s.spec.h2c() {
            qspec = qspec.arg("--h2c");
        }
        qspec.function = function;
        sup.start(qspec)?;
        let proxy_ready = now_ns();
        tracing::info!(
            "{}: instance {fn_name} ready (process {:.1} ms, readiness {:.1} ms)",
            s.spec.name,
            (process_ready - spawn) as f64 / 1e6,
            (proxy_ready - process_ready) as f64 / 1e6
        );
        s.instances.push(Instance { sup, fn_name, qp_name, qp, qp_admin, last: Vec::new() });
        s.last_active = Instant::now();
        Ok(Activation { spawn, process_ready, proxy_ready })
    }

    /// Retire the newest instance of service `i`: take it out of the routes, let it finish
    /// what it holds, keep its last counters, stop it.
    fn remove_instance(&mut self, i: usize) {
        let Some(inst) = self.services[i].instances.pop() else { return };
        if let Err(e) = self.push_routes(i) {
            tracing::warn!("{e}");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = inst.last.clone();
        while let Ok(c) = self.admin.scrape(&inst.qp_name, inst.qp_admin) {
            let busy = metric(&c, "queue_in_flight") + metric(&c, "queue_waiting");
            last = c;
            if busy == 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!("{}: scaled down, stopping {} and {}", self.services[i].spec.name, inst.fn_name, inst.qp_name);
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).retired.extend(last);
        self.exits.extend(inst.sup.shutdown());
        self.publish();
    }

    fn scale_from_zero(&mut self, svc: &str) {
        let Some(i) = self.services.iter().position(|s| s.spec.name == svc) else {
            tracing::warn!("activator asked to scale unknown service {svc:?}");
            return;
        };
        if !self.services[i].instances.is_empty() {
            return; // already scaled up; the activator will see the route
        }
        match self.add_instance(i) {
            Ok(a) => {
                self.services[i].activations.push(a);
                if let Err(e) = self.push_routes(i) {
                    tracing::warn!("{e}");
                }
                self.publish();
            }
            Err(e) => tracing::error!("{svc}: cannot start an instance: {e}"),
        }
    }

    fn record_cold(&mut self, svc: &str, arrived: u64, routable: u64, done: u64) {
        let Some(s) = self.services.iter().find(|s| s.spec.name == svc) else { return };
        // The scale from zero this request waited for: the last one spawned before it could go.
        let Some(a) = s.activations.iter().rev().find(|a| a.spawn <= routable) else {
            tracing::warn!("{svc}: cold-start report without a matching activation");
            return;
        };
        let c = dataplane_api::cold_start(svc, a, arrived, routable, done);
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).cold_starts.push(c);
    }

    fn tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.services.len() {
            let s = &mut self.services[i];
            let mut requests = 0;
            let mut concurrency = 0;
            for inst in &mut s.instances {
                if let Ok(c) = self.admin.scrape(&inst.qp_name, inst.qp_admin) {
                    inst.last = c;
                }
                requests += metric(&inst.last, "queue_requests_total");
                concurrency += metric(&inst.last, "queue_in_flight") + metric(&inst.last, "queue_waiting");
            }
            if requests != s.last_requests || concurrency > 0 {
                s.last_active = now;
            }
            s.last_requests = requests;
            s.window.push_back((now, concurrency as f64));
            while s.window.front().is_some_and(|(t, _)| now.duration_since(*t) > self.plane.stable_window) {
                s.window.pop_front();
            }
            let n = s.instances.len() as u32;
            if n == 0 {
                continue; // scale from zero happens on demand (the activator)
            }
            let mean = s.window.iter().map(|(_, c)| c).sum::<f64>() / s.window.len().max(1) as f64;
            let idle = now.duration_since(s.last_active);
            let want = autoscale::desired_instances(&s.spec.serving, mean, idle, self.plane.grace);
            if want == 0 {
                tracing::info!("{}: idle for {:.1} s, scaling to zero", s.spec.name, idle.as_secs_f64());
            }
            if want > n {
                match self.add_instance(i) {
                    Ok(_) => {
                        if let Err(e) = self.push_routes(i) {
                            tracing::warn!("{e}");
                        }
                        self.publish();
                    }
                    Err(e) => tracing::error!("{}: cannot add an instance: {e}", self.services[i].spec.name),
                }
            } else if want < n {
                while self.services[i].instances.len() as u32 > want {
                    self.remove_instance(i);
                }
            } else if let Err(e) = self.push_routes(i) {
                tracing::warn!("{e}");
            }
        }
    }

    /// Point the ingress at the queue-proxies or the activator, and tell the activator the
    /// instances; only what changed is sent.
    fn push_routes(&mut self, i: usize) -> Result<(), DeployError> {
        let p = &self.plane;
        let s = &mut self.services[i];
        let qps: Vec<String> = s.instances.iter().map(|x| x.qp.to_string()).collect();
        let observed = s.window.back().map(|(_, c)| *c).unwrap_or(0.0);
        let via_activator = autoscale::via_activator(&s.spec.serving, qps.len(), observed);
        let activator_ups = qps.join(" ");
        let ingress_ups = if via_activator { p.activator.to_string() } else { activator_ups.clone() };
        let (old_a, old_i) = s.pushed.clone().unzip();
        let program = |admin: SocketAddr, key: &str, ups: &str| {
            let body = format!("{} {ups}", s.spec.name);
            self.admin.put_route(admin, key, body).map_err(DeployError::host("program the routes"))
        };
        if old_a.as_ref() != Some(&activator_ups) {
            program(p.activator_admin, &s.spec.name, &activator_ups)?;
        }
        if old_i.as_ref() != Some(&ingress_ups) {
            program(p.ingress_admin, &s.spec.host, &ingress_ups)?;
        }
        s.pushed = Some((activator_ups, ingress_ups));
        Ok(())
    }

    /// Publish the current processes and queue-proxies for the deployment to read.
    fn publish(&self) {
        let mut comps = Vec::new();
        let mut qps = Vec::new();
        for s in &self.services {
            for inst in &s.instances {
                comps.extend(inst.sup.components());
                qps.push((inst.qp_name.clone(), inst.qp_admin));
            }
        }
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.components = comps;
        shared.queue_proxies = qps;
    }
}
