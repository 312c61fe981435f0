//! `spright-bench deploy`: a chain served for any client (wrk, Locust, k6, curl) until Ctrl-C or
//! SIGTERM, then torn down as `run` tears down. It prints what a client needs (endpoint, the
//! `Host` header where the backend routes by host, the routes) and every component's pid and
//! role; with `--cpu-log` it samples the components' CPU and memory as `run` does and writes
//! them (`cpu.csv`'s columns) at the end, so an external client's run still gets the system's CPU.

use crate::cpu::{Sampler, Tracked};
use crate::registry;
use anyhow::{bail, Context, Result};
use dataplane_api::{BackendOptions, DeployEnv, Placement};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use workloads::Chain;

pub struct DeployOptions {
    pub backend: String,
    pub backend_options: BackendOptions,
    pub chain: Chain,
    pub placement: Placement,
    /// Where the components' logs go.
    pub log_dir: PathBuf,
    /// Write the components' CPU samples here at the end (`cpu.csv`'s columns).
    pub cpu_log: Option<PathBuf>,
    pub sample_interval: Duration,
    pub exe: PathBuf,
    pub ready_timeout: Duration,
}

/// Deploy, describe the deployment on `out`, serve until `stop`, tear down.
pub fn serve(o: &DeployOptions, stop: &AtomicBool, out: &mut dyn Write) -> Result<()> {
    let backend = registry::get(&o.backend)?;
    let chain = &o.chain;
    let functions: Vec<(u16, String)> = chain.functions.iter().map(|f| (f.id, f.name.clone())).collect();
    o.placement.check_names(&chain.name, &functions)?;
    // A CPU log that cannot be written is an error before anything starts, not after serving.
    if let Some(path) = &o.cpu_log {
        let create = || {
            std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new("")))?;
            std::fs::File::create(path).map(drop)
        };
        create().with_context(|| format!("--cpu-log {}", path.display()))?;
    }
    let env = DeployEnv {
        exe: o.exe.clone(),
        log_dir: o.log_dir.clone(),
        ready_timeout: o.ready_timeout,
        options: o.backend_options.clone(),
        placement: o.placement.clone(),
    };
    let d = backend.deploy(chain, &env).with_context(|| format!("deploy {} on {}", chain.name, backend.name()))?;
    let endpoint = d.endpoint();
    let mut components = d.components();
    writeln!(out, "chain {} on {} ({}): ready", chain.name, backend.name(), backend.label())?;
    writeln!(out, "endpoint: http://{}", endpoint.addr)?;
    match &endpoint.host {
        Some(h) => writeln!(out, "host header: {h} (the ingress routes by it: send Host: {h})")?,
        None => writeln!(out, "host header: any")?,
    }
    writeln!(out, "routes:")?;
    for r in &chain.routes {
        let how = r.http.as_ref().map_or(format!("POST /{}", r.name), |p| p.to_string());
        writeln!(out, "  {how}  (route {}, weight {}, {} body bytes by default)", r.name, r.weight, r.payload_bytes)?;
    }
    writeln!(out, "placement: {}", o.placement)?;
    writeln!(out, "components:")?;
    for c in &components {
        writeln!(out, "  pid {} {} {}", c.pid, c.role, c.name)?;
    }
    writeln!(out, "logs: {}", o.log_dir.display())?;
    writeln!(out, "serving until Ctrl-C or SIGTERM")?;
    out.flush()?;

    let sampler = match &o.cpu_log {
        Some(_) => Some(Sampler::start(components.iter().map(Tracked::from).collect(), o.sample_interval)?),
        None => None,
    };
    let mut died = None;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        for c in d.components() {
            if !components.iter().any(|k| k.pid == c.pid) {
                writeln!(out, "  started: pid {} {} {}", c.pid, c.role, c.name)?;
                if let Some(s) = &sampler {
                    s.track(Tracked::from(&c));
                }
                components.push(c);
            }
        }
        let live = d.components();
        if let Some(c) = live.iter().find(|c| !crate::run::pid_alive(c.pid)) {
            died = Some(c.name.clone());
            break;
        }
    }
    writeln!(out, "tearing down ...")?;
    out.flush()?;
    let samples = sampler.map(|s| s.finish().0);
    let exits = d.teardown();
    let leftovers: Vec<u32> = components.iter().map(|c| c.pid).filter(|&p| crate::run::pid_alive(p)).collect();
    writeln!(out, "torn down: {} processes stopped", exits.len())?;
    if let (Some(samples), Some(path)) = (samples, &o.cpu_log) {
        crate::results::write_cpu(path, &samples)?;
        writeln!(out, "cpu log: {} ({} samples)", path.display(), samples.len())?;
    }
    if !leftovers.is_empty() {
        bail!("teardown left processes alive: {leftovers:?}");
    }
    if let Some(name) = died {
        bail!("component {name} died while serving (logs in {})", o.log_dir.display());
    }
    Ok(())
}
