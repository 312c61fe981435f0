//! One run: deploy a chain on a backend, drive load, sample CPU, tear down, write results.

use crate::cpu::{Sampler, Tracked};
use crate::loadgen::{self, LoadSpec, Progress};
use crate::results::{self, RunDir, RunInputs, Summary};
use crate::{envinfo, figures, registry};
use anyhow::{bail, Context, Result};
use dataplane_api::{DeployEnv, Exit, Role};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use workloads::{Chain, Mix};

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
    /// Wake every function up at the start and this many seconds (before the chain's time
    /// compression) before each burst, as the paper's Knative client did; `None`: never.
    pub prewarm_lead_s: Option<f64>,
    /// Where each process runs (`--placement`).
    pub placement: dataplane_api::Placement,
    /// Load generator threads, each with its share of the load ([`loadgen::spawn`]).
    pub loadgen_threads: usize,
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
    let routes = chain.routes.iter().map(|r| (r.id, r.name.clone(), format!("/{}", r.name), r.body())).collect();
    LoadSpec {
        target: endpoint.addr,
        host: endpoint.host.clone().unwrap_or_else(|| endpoint.addr.to_string()),
        headers: Vec::new(),
        method: "POST".into(),
        routes,
        mix: Some(Mix::new(chain)),
        profile: chain.load.clone(),
        users: chain.users.clone(),
        sources: loadgen::source_addresses(endpoint.addr, loadgen::connections(&chain.load)),
        close_idle: false,
        cpus: None,
    }
}

/// A process's (or thread's, `/proc/<pid>/task/<tid>`) `Cpus_allowed_list`, empty if unreadable.
pub fn cpus_allowed(proc_dir: &std::path::Path) -> String {
    let status = std::fs::read_to_string(proc_dir.join("status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map_or(String::new(), |v| v.trim().to_string())
}

/// The name of load generator thread `i` in CPU samples and the manifest.
fn loadgen_name(i: usize) -> String {
    if i == 0 {
        "loadgen".into()
    } else {
        format!("loadgen-{i}")
    }
}

/// The CPUs any thread of process `pid` may run on (threads may be pinned apart, as S-SPRIGHT's
/// `worker-cpus=by-queue` pins its workers), as a CPU list; the process's own where its threads
/// cannot be read.
pub fn process_cpus(pid: u32) -> String {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let threads = std::fs::read_dir(dir.join("task")).map(|d| d.flatten().map(|t| t.path()).collect::<Vec<_>>());
    let lists = threads.unwrap_or_default().iter().map(|t| cpus_allowed(t)).collect::<Vec<_>>();
    let parsed = lists.iter().map(|l| dataplane_api::placement::parse_cpu_list(l)).collect::<Option<Vec<_>>>();
    match parsed {
        Some(sets) if !sets.is_empty() => {
            let mut all: Vec<usize> = sets.concat();
            all.sort_unstable();
            all.dedup();
            dataplane_api::placement::cpu_list(&all)
        }
        _ => cpus_allowed(&dir),
    }
}

/// (name, CPU list) of every component (any of its threads) and of the load generator's threads.
fn read_cpus(components: &[dataplane_api::Component], loadgen_tids: &[u32]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = components.iter().map(|c| (c.name.clone(), process_cpus(c.pid))).collect();
    for (i, tid) in loadgen_tids.iter().enumerate() {
        let dir = format!("/proc/{}/task/{tid}", std::process::id());
        out.push((loadgen_name(i), cpus_allowed(&PathBuf::from(dir))));
    }
    out
}

/// Validate a trace in one streaming pass before anything is deployed, and say how it fits the
/// run: a trace that outlasts the window is cut, one with gaps longer than the window is mostly
/// idle.
fn check_trace(t: &workloads::trace::TraceSpec, load: &workloads::LoadProfile) -> Result<workloads::trace::TraceStats> {
    tracing::info!("checking trace {} ...", t.file.display());
    let stats = workloads::trace::validate(t)?;
    let window = load.warmup_s + load.duration_s;
    tracing::info!(
        "trace: {} events over {:.1} s (x{} time scale), longest gap {:.1} s, {} gaps over 30 s",
        stats.events,
        stats.span_s,
        t.time_scale,
        stats.longest_gap_s,
        stats.gaps_over_30s
    );
    if stats.span_s > window {
        tracing::warn!("the trace lasts {:.0} s; only its first {window:.0} s are replayed", stats.span_s);
    }
    if stats.longest_gap_s > window {
        tracing::warn!(
            "the trace has a gap of {:.0} s, longer than the whole run ({window:.0} s)",
            stats.longest_gap_s
        );
    }
    Ok(stats)
}

/// This process's peak resident memory (`VmHWM`), KiB; 0 if unreadable.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub fn run(opts: &RunOptions, stop: &Arc<AtomicBool>) -> Result<RunOutcome> {
    let backend = registry::get(&opts.backend)?;
    let chain = &opts.chain;
    let functions: Vec<(u16, String)> = chain.functions.iter().map(|f| (f.id, f.name.clone())).collect();
    // The policy sizes the generator's share of the CPUs by its threads.
    let policy = opts.placement.clone().with_loadgen_threads(opts.loadgen_threads);
    policy.check_names(&chain.name, &functions)?;
    // Checked before the results directory exists: a bad trace leaves nothing behind.
    let trace = match &chain.load.pattern {
        workloads::Pattern::Trace(t) => Some(check_trace(t, &chain.load)?),
        _ => None,
    };
    loadgen::check_users(&chain.load, chain.users.as_ref(), opts.loadgen_threads).map_err(anyhow::Error::msg)?;
    // Closed-loop users think between requests, so their count says little of what is in flight.
    let open = !matches!(chain.load.pattern, workloads::Pattern::Closed { .. });
    let in_flight = loadgen::connections(&chain.load);
    if let Some(a) = backend.admits_at_once(chain).filter(|a| open && (a.most as usize) < in_flight) {
        tracing::warn!(
            "{in_flight} connections, but {} admits at most {} requests of {} at once (its {}): \
             requests beyond them are refused (503) and count as errors; {} or lower --connections",
            backend.name(),
            a.most,
            chain.name,
            a.held,
            a.raise
        );
    }
    let dir = RunDir::create(&opts.out)?;
    let env = envinfo::collect();
    let started = crate::clock::wall_clock();
    let mut host_limits = crate::limits::prepare(loadgen::connections(&chain.load));
    let sleeps = crate::sleeps::measure(chain);
    tracing::info!("deploying chain {} on {} ...", chain.name, backend.name());
    let deploy_env = DeployEnv {
        exe: opts.exe.clone(),
        log_dir: dir.path("logs"),
        ready_timeout: opts.ready_timeout,
        options: opts.backend_options.clone(),
        placement: policy.clone(),
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
    match &endpoint.host {
        Some(host) => tracing::info!(
            "{} components ready; endpoint http://{} (it routes by host: send Host: {host})",
            components.len(),
            endpoint.addr
        ),
        None => tracing::info!("{} components ready; endpoint http://{}", components.len(), endpoint.addr),
    }

    // Wake-ups (`--prewarm`): at the start, then `lead` before each burst after the first.
    let mut wake_at: Vec<f64> = Vec::new();
    if let Some(lead) = opts.prewarm_lead_s {
        if deployment.prewarm()? {
            tracing::info!("prewarm: every function has an instance");
        }
        if let workloads::Pattern::Burst { every_s, .. } = chain.load.pattern {
            let total = chain.load.warmup_s + chain.load.duration_s;
            let lead = lead * chain.time_factor;
            wake_at =
                (1..).map(|k| k as f64 * every_s - lead).take_while(|&t| t < total).filter(|&t| t > 0.0).collect();
        }
    }
    let mut prewarms = vec![0.0];
    let mut spec = load_spec(chain, &endpoint);
    spec.close_idle = host_limits.close_idle;
    spec.cpus = policy.loadgen();
    host_limits.source_addresses = spec.sources.iter().map(|a| a.to_string()).collect();
    let progress = Arc::new(Progress::default());
    let (handle, tids) =
        loadgen::spawn(spec, opts.loadgen_threads, stop.clone(), progress.clone()).context("start load generator")?;
    let mut tracked: Vec<Tracked> = components.iter().map(Tracked::from).collect();
    let mut cpus = read_cpus(&components, &tids);
    for (i, &tid) in tids.iter().enumerate() {
        tracked.push(Tracked {
            pid: std::process::id(),
            tid: Some(tid),
            role: Role::LoadGenerator,
            name: loadgen_name(i),
        });
    }
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
        if wake_at.first().is_some_and(|&t| t0.elapsed().as_secs_f64() >= t) {
            let t = wake_at.remove(0);
            if let Err(e) = deployment.prewarm() {
                tracing::warn!("prewarm at {t:.1} s: {e}");
            }
            prewarms.push(t);
        }
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
    let load = handle.join().context("load generator")?;
    let (samples, system) = sampler.finish();
    // Processes a scaling backend started later are read too (the first reading stands).
    for c in read_cpus(&deployment.components(), &tids) {
        if !cpus.iter().any(|k| k.0 == c.0) {
            cpus.push(c);
        }
    }
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
    let cold = results::coldsplit::split(&load.recorder.log, &cold_starts);
    let inputs = RunInputs {
        backend: backend.name(),
        label: backend.label(),
        options: &opts.backend_options,
        chain,
        load: &load,
        samples: &samples,
        system: &system,
        window,
        sample_interval: opts.sample_interval,
        placement: &placement,
        policy: &policy,
        cpus: &cpus,
        cpu_unavailable: cpu_unavailable.as_deref(),
        cold_starts: &cold_starts,
        cold: &cold,
        counters: &counters,
        components: &components,
        exits: &exits,
        leftovers: &leftovers,
        env: &env,
        command_line: &opts.command_line,
        started: &started,
        host_limits: &host_limits,
        driver_peak_rss_kib: peak_rss_kib(),
        trace: trace.as_ref(),
        sleeps: &sleeps,
        prewarms: opts.prewarm_lead_s.map(|_| prewarms.as_slice()),
    };
    let summary = results::summarize(&inputs);
    results::write_csvs(&dir, &inputs, &summary)?;
    results::write_summary_md(&dir, &inputs, &summary)?;
    let manifest = results::manifest::manifest(&inputs, &summary);
    std::fs::write(dir.path("manifest.json"), serde_json::to_string_pretty(&manifest)?)
        .context("write manifest.json")?;
    // Figures are a view of the CSV files: failing to draw them loses no measurement.
    let figures = figures::run_figures(&dir.partial);
    let path = dir.finish()?;
    if let Err(e) = figures {
        tracing::warn!(
            "figures not drawn ({}); the CSV files are complete: redraw with `spright-bench summarize {}`",
            crate::error_report(e.as_ref()),
            path.display()
        );
    }
    if !leftovers.is_empty() {
        bail!("teardown left processes alive: {leftovers:?} (results in {})", path.display());
    }
    Ok(RunOutcome { dir: path, summary, exits, leftovers })
}
