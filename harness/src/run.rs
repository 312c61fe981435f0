//! One run: deploy a chain on a backend, drive load, sample CPU, tear down, write results.

use crate::cpu::{Sampler, Tracked};
use crate::loadgen::{self, LoadSpec, Progress};
use crate::results::{self, RunDir, RunInputs, Summary};
use crate::{envinfo, figures, registry};
use anyhow::{bail, Context, Result};
use dataplane_api::{DeployEnv, Exit, Role};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use workloads::load::Pattern;
use workloads::{Arrival, Chain, Mix};

/// Command-line changes to a chain's `[load]` table.
#[derive(Debug, Clone, Default)]
pub struct LoadOverrides {
    pub pattern: Option<String>,
    pub rate: Option<f64>,
    pub arrival: Option<String>,
    pub users: Option<u32>,
    pub think_ms: Option<(u64, u64)>,
    pub burst_size: Option<u32>,
    pub burst_every_s: Option<f64>,
    pub duration_s: Option<f64>,
    pub warmup_s: Option<f64>,
    pub connections: Option<u32>,
    pub timeout_ms: Option<u64>,
    pub seed: Option<u64>,
}

impl LoadOverrides {
    /// Apply to `chain.load`, with the same checks the spec validator makes.
    pub fn apply(&self, chain: &mut Chain) -> Result<(), String> {
        let l = &mut chain.load;
        let pattern = self.pattern.as_deref().unwrap_or(match l.pattern {
            Pattern::Open { .. } => "open",
            Pattern::Closed { .. } => "closed",
            Pattern::Burst { .. } => "burst",
        });
        let check = |ok: bool, msg: String| if ok { Ok(()) } else { Err(msg) };
        l.pattern = match pattern {
            "open" => {
                let (mut arrival, mut rate) = match l.pattern {
                    Pattern::Open { arrival, rate } => (arrival, rate),
                    _ => (Arrival::Poisson, 100.0),
                };
                if let Some(a) = &self.arrival {
                    arrival = match a.as_str() {
                        "poisson" => Arrival::Poisson,
                        "constant" => Arrival::Constant,
                        other => return Err(format!("--arrival {other:?}: use constant or poisson")),
                    };
                }
                if let Some(r) = self.rate {
                    check(r.is_finite() && r > 0.0, format!("--rate {r}: must be > 0 requests per second"))?;
                    rate = r;
                }
                Pattern::Open { arrival, rate }
            }
            "closed" => {
                let (mut users, mut lo, mut hi) = match l.pattern {
                    Pattern::Closed { users, think_min_ms, think_max_ms } => (users, think_min_ms, think_max_ms),
                    _ => (10, 1000, 10_000),
                };
                if let Some(u) = self.users {
                    check((1..=100_000).contains(&u), format!("--users {u}: must be between 1 and 100000"))?;
                    users = u;
                }
                if let Some((a, b)) = self.think_ms {
                    check(a <= b, format!("--think-ms {a}-{b}: empty range"))?;
                    (lo, hi) = (a, b);
                }
                Pattern::Closed { users, think_min_ms: lo, think_max_ms: hi }
            }
            "burst" => {
                let (mut size, mut every) = match l.pattern {
                    Pattern::Burst { size, every_s } => (size, every_s),
                    _ => (10, 10.0),
                };
                if let Some(s) = self.burst_size {
                    check((1..=100_000).contains(&s), format!("--burst-size {s}: must be between 1 and 100000"))?;
                    size = s;
                }
                if let Some(e) = self.burst_every_s {
                    check(e.is_finite() && e > 0.0, format!("--burst-every {e}: must be > 0 seconds"))?;
                    every = e;
                }
                Pattern::Burst { size, every_s: every }
            }
            other => return Err(format!("--pattern {other:?}: use open, closed or burst")),
        };
        if let Some(d) = self.duration_s {
            check(d.is_finite() && d > 0.0, format!("--duration {d}: must be > 0 seconds"))?;
            l.duration_s = d;
        }
        if let Some(w) = self.warmup_s {
            check(w.is_finite() && w >= 0.0, format!("--warmup {w}: must be >= 0 seconds"))?;
            l.warmup_s = w;
        }
        if let Some(c) = self.connections {
            check((1..=10_000).contains(&c), format!("--connections {c}: must be between 1 and 10000"))?;
            l.connections = c;
        }
        if let Some(t) = self.timeout_ms {
            check(t > 0, "--timeout-ms must be > 0".into())?;
            l.timeout_ms = t;
        }
        if let Some(s) = self.seed {
            l.seed = s;
        }
        Ok(())
    }
}

pub struct RunOptions {
    pub backend: String,
    /// The backend's options, validated ([`registry::options`]).
    pub backend_options: dataplane_api::BackendOptions,
    pub chain: Chain,
    pub out: PathBuf,
    pub sample_interval: Duration,
    /// The multi-call binary that runs components.
    pub exe: PathBuf,
    pub progress: bool,
    pub command_line: Vec<String>,
    pub ready_timeout: Duration,
}

pub struct RunOutcome {
    pub dir: PathBuf,
    pub summary: Summary,
    pub exits: Vec<Exit>,
    /// Component pids still alive after teardown (must be empty).
    pub leftovers: Vec<u32>,
}

/// Whether a pid still exists as something other than a zombie.
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

/// The request mix as the load generator sees it.
pub fn load_spec(chain: &Chain, endpoint: &dataplane_api::Endpoint) -> LoadSpec {
    let routes = chain
        .routes
        .iter()
        .map(|r| {
            let mut body = vec![0u8; r.payload_bytes];
            workloads::handler::fill_pattern(&mut body, r.id as u64);
            (r.id, r.name.clone(), format!("/{}", r.name), body)
        })
        .collect();
    LoadSpec {
        target: endpoint.addr,
        host: endpoint.host.clone().unwrap_or_else(|| endpoint.addr.to_string()),
        method: "POST".into(),
        routes,
        mix: Some(Mix::new(chain)),
        profile: chain.load.clone(),
    }
}

pub fn run(opts: &RunOptions, stop: &Arc<AtomicBool>) -> Result<RunOutcome> {
    let backend = registry::get(&opts.backend)?;
    let chain = &opts.chain;
    let dir = RunDir::create(&opts.out)?;
    let env = envinfo::collect();
    let (started_unix, started_iso) = crate::clock::wall_clock();
    tracing::info!("deploying chain {} on {} ...", chain.name, backend.name());
    let deploy_env = DeployEnv {
        exe: opts.exe.clone(),
        log_dir: dir.path("logs"),
        ready_timeout: opts.ready_timeout,
        options: opts.backend_options.clone(),
    };
    let deployment = match backend.deploy(chain, &deploy_env) {
        Ok(d) => d,
        Err(e) => {
            // Keep the directory only if some component wrote a log worth reading.
            let logs = std::fs::read_dir(&deploy_env.log_dir)
                .map(|d| d.flatten().any(|f| f.path().extension().is_some_and(|x| x == "log")))
                .unwrap_or(false);
            if logs {
                return Err(anyhow::Error::new(e).context(format!(
                    "deploy {} on {} (component logs in {})",
                    chain.name,
                    backend.name(),
                    deploy_env.log_dir.display()
                )));
            }
            let _ = std::fs::remove_dir_all(&dir.partial);
            return Err(anyhow::Error::new(e).context(format!("deploy {} on {}", chain.name, backend.name())));
        }
    };
    let endpoint = deployment.endpoint();
    let mut components = deployment.components();
    let placement = deployment.placement();
    tracing::info!("{} components ready; endpoint http://{}", components.len(), endpoint.addr);

    let spec = load_spec(chain, &endpoint);
    let progress = Arc::new(Progress::default());
    let (handle, tid) = loadgen::spawn(spec, stop.clone(), progress.clone()).context("start load generator")?;
    let mut tracked: Vec<Tracked> = components.iter().map(Tracked::from).collect();
    tracked.push(Tracked {
        pid: std::process::id(),
        tid: Some(tid),
        role: Role::LoadGenerator,
        name: "loadgen".into(),
    });
    let sampler_start = crate::clock::now_ns();
    let sampler = Sampler::start(tracked, opts.sample_interval).context("start CPU sampler")?;

    let total_s = chain.load.warmup_s + chain.load.duration_s;
    let bar = (opts.progress && total_s > 3.0).then(|| {
        let b = indicatif::ProgressBar::new((total_s * 10.0) as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {elapsed}/{duration} {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        b.set_prefix(format!("{} on {}", chain.name, backend.name()));
        b
    });
    let t0 = std::time::Instant::now();
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        // Processes a scaling backend started since: account them too.
        for c in deployment.components() {
            if !components.iter().any(|k| k.pid == c.pid) {
                sampler.track(Tracked::from(&c));
                components.push(c);
            }
        }
        if let Some(b) = &bar {
            b.set_position(((t0.elapsed().as_secs_f64()) * 10.0).min(total_s * 10.0) as u64);
            b.set_message(format!(
                "{} ok, {} errors",
                progress.ok.load(Ordering::Relaxed),
                progress.errors.load(Ordering::Relaxed)
            ));
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let load = handle.join().map_err(|_| anyhow::anyhow!("load generator panicked"))?.context("load generator")?;
    let (samples, system) = sampler.finish();
    let counters = deployment.counters();
    let cold_starts = deployment.cold_starts();
    let cpu_unavailable = deployment.cpu_unavailable();
    let exits = deployment.teardown();
    let leftovers: Vec<u32> = components.iter().map(|c| c.pid).filter(|&p| pid_alive(p)).collect();
    if !leftovers.is_empty() {
        tracing::warn!("processes still alive after teardown: {leftovers:?}");
    }
    for e in exits.iter().filter(|e| e.died_during_run) {
        tracing::warn!("component {} died during the run: {}", e.component.name, e.status.as_deref().unwrap_or("?"));
    }

    let offset = load.start_ns.saturating_sub(sampler_start) as f64 / 1e9;
    let window = (offset + chain.load.warmup_s, offset + chain.load.warmup_s + load.measured_s);
    let inputs = RunInputs {
        backend: backend.name(),
        chain,
        load: &load,
        samples: &samples,
        system: &system,
        window,
        placement: &placement,
        options: &opts.backend_options,
        cpu_unavailable: cpu_unavailable.as_deref(),
        cold_starts: &cold_starts,
        load_start_ns: load.start_ns,
    };
    let summary = results::summarize(&inputs);
    results::write_csvs(&dir, &inputs, &summary, &counters)?;
    results::write_summary_md(&dir, &summary, backend.label(), &inputs, &exits, &counters)?;
    let l = &chain.load;
    let manifest = json!({
        "tool": "spright-bench",
        "command_line": opts.command_line,
        "started_unix": started_unix,
        "started": started_iso,
        "complete": true,
        "interrupted": load.interrupted,
        "environment": env,
        "backend": {
            "name": backend.name(),
            "label": backend.label(),
            "options": opts.backend_options.iter().collect::<std::collections::BTreeMap<_, _>>(),
        },
        "chain": { "name": chain.name, "source": chain.source, "spec": chain.spec_text },
        "load": {
            "pattern": l.pattern.describe(),
            "duration_s": l.duration_s,
            "measured_s": load.measured_s,
            "warmup_s": l.warmup_s,
            "connections": l.connections,
            "timeout_ms": l.timeout_ms,
            "seed": l.seed,
            "latency_origin": if matches!(l.pattern, Pattern::Closed { .. }) { "actual send time (closed loop)" } else { "intended send time (open loop)" },
        },
        "placement": {
            "components": placement,
            "cpus_allowed": env.cpus_allowed,
            "load_average_at_start": env.load_average,
            "background_cpu_pct": summary.background_cpu_pct,
            "loadgen": "thread of the driver process, sampled separately",
        },
        "cpu_sample_interval_ms": opts.sample_interval.as_millis() as u64,
        "components": components.iter().map(|c| json!({"name": c.name, "role": c.role.as_str(), "pid": c.pid})).collect::<Vec<_>>(),
        "exits": exits.iter().map(|e| json!({"name": e.component.name, "died_during_run": e.died_during_run, "status": e.status})).collect::<Vec<_>>(),
        "leftover_pids": leftovers,
        "warmup_requests": load.recorder.warmup_requests,
    });
    std::fs::write(dir.path("manifest.json"), serde_json::to_string_pretty(&manifest)?)
        .context("write manifest.json")?;
    figures::run_figures(&dir.partial, &format!("{} on {}", chain.name, backend.name()))?;
    let path = dir.finish()?;
    if !leftovers.is_empty() {
        bail!("teardown left processes alive: {leftovers:?} (results in {})", path.display());
    }
    Ok(RunOutcome { dir: path, summary, exits, leftovers })
}
