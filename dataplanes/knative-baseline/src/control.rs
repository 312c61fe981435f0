//! The control plane of the Knative model: what Knative's autoscaler, controller and kubelet do,
//! run as a thread of the driver (which is what starts processes here). It is not on the data
//! path and its CPU is not part of the system under test, as in the paper's measurements.
//!
//! - Scales each service between min-scale and max-scale on the concurrency its queue-proxies
//!   report (scraped from their metrics, as the autoscaler does): desired instances =
//!   ceil(mean concurrency over the stable window / (containerConcurrency x 70%)), 70% being
//!   Knative's target utilisation; an unlimited containerConcurrency targets 100.
//! - Scales to zero a service with min-scale 0 that has had no request for the
//!   scale-to-zero-grace-period, and from zero when the activator asks (`POST /scale-up/<svc>`).
//! - Programs the routes: the ingress sends a service's traffic to its queue-proxies, or to the
//!   activator when it has no instance or target-burst-capacity says the spare capacity is too
//!   small (-1: always); the activator learns each service's instances.
//! - Records every scale from zero with its timestamps, joined with the activator's report of
//!   each request that waited for it (`POST /cold-start/<svc>`): the cold-start breakdown.

use crate::names;
use crate::proxy::parse_metrics;
use dataplane_api::supervisor::loopback_listener;
use dataplane_api::{
    now_ns, ColdStart, Component, ComponentSpec, Counter, DeployEnv, DeployError, Exit, Role, Supervisor,
};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::{Chain, Serving};

/// Knative's stable window and target utilisation.
const STABLE_WINDOW: Duration = Duration::from_secs(60);
const TARGET_UTILISATION: f64 = 0.7;
/// Concurrency target per instance when containerConcurrency is 0 (unlimited).
const UNLIMITED_TARGET: f64 = 100.0;
/// The autoscaler's scrape period (Knative scrapes queue-proxies every second).
const SCRAPE_PERIOD: Duration = Duration::from_secs(1);

/// A blocking HTTP/1.1 request with `Connection: close`; returns status and body.
pub fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let _ = s.set_nodelay(true);
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP response from {addr}")))?;
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    // A chunked body (hyper chunks bodies of unknown length) is not expected from our admin
    // endpoints, which always know their length.
    Ok((status, body))
}

/// Metrics of a component's admin endpoint as counters named after it.
pub fn scrape(component: &str, admin: SocketAddr) -> std::io::Result<Vec<Counter>> {
    let (status, body) = call(admin, "GET", "/metrics", "")?;
    if status != 200 {
        return Err(std::io::Error::other(format!("{component} metrics: HTTP {status}")));
    }
    Ok(parse_metrics(&body)
        .into_iter()
        .map(|(name, value)| Counter { component: component.to_string(), name, value })
        .collect())
}

/// Sum of the samples of metric `name`, whatever their labels.
pub fn metric(counters: &[Counter], name: &str) -> u64 {
    counters.iter().filter(|c| c.name.split('{').next() == Some(name)).map(|c| c.value).sum()
}

/// What the data path runs for a service.
#[derive(Clone)]
pub enum Workload {
    Gateway { timeout_ms: u64 },
    Function(workloads::FnId),
}

pub struct ServiceSpec {
    pub name: String,
    pub host: String,
    /// Component names of its instances: `gateway` or `<id>-<function>`.
    pub short: String,
    pub serving: Serving,
    pub workload: Workload,
}

impl ServiceSpec {
    /// Whether the workload speaks gRPC (h2c) rather than HTTP/1.1.
    pub fn h2c(&self) -> bool {
        matches!(self.workload, Workload::Function(_))
    }

    /// Arguments after `<exe> component knative` that run this service's workload, locally and
    /// in a container alike: it reads the chain spec at `chain_file` and calls its peers
    /// through `via`.
    pub fn command(&self, chain_file: &str, via: &str, peer_args: &[String]) -> Vec<String> {
        let mut args = match &self.workload {
            Workload::Gateway { timeout_ms } => vec!["gateway".to_string(), format!("--timeout-ms={timeout_ms}")],
            Workload::Function(id) => vec!["function".to_string(), format!("--id={id}")],
        };
        args.extend([format!("--chain={chain_file}"), format!("--via={via}")]);
        args.extend(peer_args.iter().cloned());
        args
    }
}

/// `--peer=<id>=<host>` for every function service: where the workloads send their calls.
pub fn peer_args(specs: &[ServiceSpec]) -> Vec<String> {
    specs
        .iter()
        .filter_map(|s| match s.workload {
            Workload::Function(id) => Some(format!("--peer={id}={}", s.host)),
            Workload::Gateway { .. } => None,
        })
        .collect()
}

/// The ingress's and activator's admin addresses, and everything instances need.
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
}

struct Instance {
    sup: Supervisor,
    fn_name: String,
    qp_name: String,
    qp: SocketAddr,
    qp_admin: SocketAddr,
    last: Vec<Counter>,
}

/// One scale from zero.
struct Activation {
    spawn: u64,
    process_ready: u64,
    proxy_ready: u64,
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

/// What the deployment reads while the control plane runs.
#[derive(Default)]
pub struct Shared {
    pub components: Mutex<Vec<Component>>,
    /// Live queue-proxies: (component name, admin address).
    pub queue_proxies: Mutex<Vec<(String, SocketAddr)>>,
    /// Last counters of queue-proxies that were scaled away.
    pub retired: Mutex<Vec<Counter>>,
    pub cold_starts: Mutex<Vec<ColdStart>>,
}

enum Msg {
    ScaleUp(String),
    ColdReport { service: String, arrived: u64, routable: u64, done: u64 },
}

pub struct ControlPlane {
    pub shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    tx: mpsc::Sender<Option<Msg>>,
    control_addr: SocketAddr,
    server: Option<std::thread::JoinHandle<()>>,
    looper: Option<std::thread::JoinHandle<Vec<Exit>>>,
}

impl ControlPlane {
    /// Start min-scale instances of every service, program the routes, and run the loop.
    /// `listener` is the control endpoint, bound before the activator starts (it is given the
    /// address).
    pub fn start(
        listener: TcpListener,
        control_addr: SocketAddr,
        plane: Plane,
        specs: Vec<ServiceSpec>,
    ) -> Result<Self, DeployError> {
        let shared = Arc::new(Shared::default());
        let mut state = State { plane, services: Vec::new(), shared: shared.clone(), exits: Vec::new() };
        for spec in specs {
            state.services.push(Service {
                spec,
                instances: Vec::new(),
                started: 0,
                last_requests: 0,
                last_active: Instant::now(),
                window: VecDeque::new(),
                pushed: None,
                activations: Vec::new(),
            });
        }
        for i in 0..state.services.len() {
            state.push_routes(i)?;
            for _ in 0..state.services[i].spec.serving.min_scale {
                if let Err(e) = state.add_instance(i) {
                    state.shutdown();
                    return Err(e);
                }
            }
            state.push_routes(i)?;
        }
        state.publish();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let server = {
            let (tx, stop) = (tx.clone(), stop.clone());
            std::thread::Builder::new()
                .name("kn-control".into())
                .spawn(move || serve_control(listener, tx, &stop))
                .map_err(DeployError::io("spawn control server"))?
        };
        let looper = std::thread::Builder::new()
            .name("kn-autoscaler".into())
            .spawn(move || state.run(rx))
            .map_err(DeployError::io("spawn autoscaler"))?;
        Ok(ControlPlane { shared, stop, tx, control_addr, server: Some(server), looper: Some(looper) })
    }

    /// Stop scaling, stop every instance, and say how each ended.
    pub fn shutdown(&mut self) -> Vec<Exit> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.tx.send(None);
        let _ = TcpStream::connect_timeout(&self.control_addr, Duration::from_millis(200)); // wake accept()
        if let Some(s) = self.server.take() {
            let _ = s.join();
        }
        self.looper.take().and_then(|l| l.join().ok()).unwrap_or_default()
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The control endpoint: one short HTTP/1.1 request per connection from the activator.
fn serve_control(listener: TcpListener, tx: mpsc::Sender<Option<Msg>>, stop: &AtomicBool) {
    let _ = listener.set_nonblocking(false);
    for stream in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut s) = stream else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut r = BufReader::new(&s);
        let mut line = String::new();
        if r.read_line(&mut line).is_err() {
            continue;
        }
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len.min(4096)];
        let _ = r.read_exact(&mut body);
        let body = String::from_utf8_lossy(&body);
        let path = line.split_whitespace().nth(1).unwrap_or("");
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
        let status = if msg.is_some() { "202 Accepted" } else { "404 Not Found" };
        let _ = write!(s, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        if let Some(m) = msg {
            let _ = tx.send(Some(m));
        }
    }
}

struct State {
    plane: Plane,
    services: Vec<Service>,
    shared: Arc<Shared>,
    exits: Vec<Exit>,
}

impl State {
    fn run(mut self, rx: mpsc::Receiver<Option<Msg>>) -> Vec<Exit> {
        let period = SCRAPE_PERIOD.min(self.plane.grace / 4).max(Duration::from_millis(50));
        let mut next = Instant::now() + period;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(None) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(Some(Msg::ScaleUp(svc))) => self.scale_from_zero(&svc),
                Ok(Some(Msg::ColdReport { service, arrived, routable, done })) => {
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
            Workload::Gateway { .. } => (format!("gateway{suffix}"), Role::Gateway),
            Workload::Function(_) => (format!("fn-{}{suffix}", s.spec.short), Role::Function),
        };
        let mut spec = ComponentSpec::new(&fn_name, role).fd(fn_listener);
        spec.args = s.spec.command(&p.chain_file.display().to_string(), &p.ingress.to_string(), &p.peer_args);
        let spawn = now_ns();
        sup.start(spec)?;
        let process_ready = now_ns();
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
        while let Ok(c) = scrape(&inst.qp_name, inst.qp_admin) {
            let busy = metric(&c, "queue_in_flight") + metric(&c, "queue_waiting");
            last = c;
            if busy == 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        tracing::info!("{}: scaled down, stopping {} and {}", self.services[i].spec.name, inst.fn_name, inst.qp_name);
        self.shared.retired.lock().unwrap_or_else(|e| e.into_inner()).extend(last);
        self.exits.extend(inst.sup.shutdown());
        self.publish();
    }

    fn scale_from_zero(&mut self, svc: &str) {
        let Some(i) = self.services.iter().position(|s| s.spec.name == svc) else {
            tracing::warn!("activator asked to scale unknown service {svc:?}");
            return;
        };
        let s = &self.services[i];
        if !s.instances.is_empty() {
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
        let b = |t: u64| t.max(arrived);
        let (b1, b2, b3, b4) = (b(a.spawn), b(a.process_ready), b(a.proxy_ready), b(routable));
        let us = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1e3;
        self.shared.cold_starts.lock().unwrap_or_else(|e| e.into_inner()).push(ColdStart {
            service: svc.to_string(),
            arrived_ns: arrived,
            scheduling_us: us(arrived, b1),
            process_start_us: us(b1, b2),
            readiness_us: us(b2, b3),
            routing_us: us(b3, b4),
            forwarding_us: us(b4, done),
            total_us: us(arrived, done),
        });
    }

    fn tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.services.len() {
            let s = &mut self.services[i];
            let mut requests = 0;
            let mut concurrency = 0;
            for inst in &mut s.instances {
                if let Ok(c) = scrape(&inst.qp_name, inst.qp_admin) {
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
            while s.window.front().is_some_and(|(t, _)| now.duration_since(*t) > STABLE_WINDOW) {
                s.window.pop_front();
            }
            let sv = s.spec.serving;
            let n = s.instances.len() as u32;
            if n == 0 {
                continue; // scale from zero happens on demand (the activator)
            }
            let mean = s.window.iter().map(|(_, c)| c).sum::<f64>() / s.window.len().max(1) as f64;
            let target = if sv.container_concurrency > 0 {
                sv.container_concurrency as f64 * TARGET_UTILISATION
            } else {
                UNLIMITED_TARGET
            };
            let max = if sv.max_scale == 0 { 64 } else { sv.max_scale };
            let mut want = ((mean / target).ceil() as u32).clamp(sv.min_scale.max(1), max);
            let idle = now.duration_since(s.last_active);
            if sv.min_scale == 0 && idle >= self.plane.grace {
                tracing::info!("{}: idle for {:.1} s, scaling to zero", s.spec.name, idle.as_secs_f64());
                want = 0;
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
        let sv = s.spec.serving;
        let via_activator = qps.is_empty()
            || match sv.target_burst_capacity {
                -1 => true,
                0 => false,
                tbc => {
                    let cap =
                        if sv.container_concurrency > 0 { sv.container_concurrency as f64 } else { UNLIMITED_TARGET };
                    let observed = s.window.back().map(|(_, c)| *c).unwrap_or(0.0);
                    (qps.len() as f64 * cap - observed - tbc as f64) < 0.0
                }
            };
        let put = |admin: SocketAddr, key: &str, body: String| -> Result<(), DeployError> {
            match call(admin, "PUT", &format!("/routes/{key}"), &body) {
                Ok((200, _)) => Ok(()),
                Ok((st, b)) => Err(DeployError::Unsupported(format!("route update {key} at {admin}: HTTP {st}: {b}"))),
                Err(e) => Err(DeployError::Io { what: format!("route update {key} at {admin}"), source: e }),
            }
        };
        let activator_ups = qps.join(" ");
        let ingress_ups = if via_activator { p.activator.to_string() } else { activator_ups.clone() };
        let (old_a, old_i) = s.pushed.clone().unzip();
        if old_a.as_ref() != Some(&activator_ups) {
            put(p.activator_admin, &s.spec.name, format!("{} {activator_ups}", s.spec.name))?;
        }
        if old_i.as_ref() != Some(&ingress_ups) {
            put(p.ingress_admin, &s.spec.host, format!("{} {ingress_ups}", s.spec.name))?;
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
        *self.shared.components.lock().unwrap_or_else(|e| e.into_inner()) = comps;
        *self.shared.queue_proxies.lock().unwrap_or_else(|e| e.into_inner()) = qps;
    }
}

/// The services of a chain: its gateway (always one warm instance with unlimited concurrency:
/// it is the chain's HTTP entry, not one of the functions the knobs are about) and one per
/// function with the chain's knobs.
pub fn services(chain: &Chain, namespace: &str, domain: &str) -> Vec<ServiceSpec> {
    let gw = names::gateway_service(chain);
    let mut v = vec![ServiceSpec {
        host: names::host(&gw, namespace, domain),
        name: gw,
        short: "gateway".into(),
        serving: gateway_serving(),
        workload: Workload::Gateway { timeout_ms: chain.gateway_timeout_ms },
    }];
    for f in &chain.functions {
        let name = names::function_service(chain, f);
        v.push(ServiceSpec {
            host: names::host(&name, namespace, domain),
            name,
            short: format!("{}-{}", f.id, f.name),
            serving: f.serving,
            workload: Workload::Function(f.id),
        });
    }
    v
}

/// How the gateway service is served (see [`services`]).
pub fn gateway_serving() -> Serving {
    Serving { container_concurrency: 0, min_scale: 1, max_scale: 1, target_burst_capacity: 0, ..Serving::default() }
}
