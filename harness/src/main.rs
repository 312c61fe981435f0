//! `spright-bench`: the command line. Parses arguments and calls the harness library.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use harness::run::RunOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;
use workloads::{LoadOverrides, LoadProfile};

#[derive(Parser)]
#[command(
    name = "spright-bench",
    version,
    about = "Reproduce SPRIGHT: run serverless function chains on interchangeable dataplanes and measure them",
    long_about = "Deploys a function chain (workloads/chains/*.toml) on a dataplane backend as real processes, \
drives it with an open- or closed-loop load generator, measures latency (HdrHistogram), throughput and CPU per \
component (procfs), and writes results/runs/<id>/: manifest.json, CSV files, summary.md and figures.\n\n\
Clients reach every backend the same way: POST /<route> to the gateway's HTTP/1.1 endpoint."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Deploy a chain on one backend, drive load, write a results directory.
    Run(RunArgs),
    /// The experiment set of `make reproduce`: the paper's evaluation scaled to this machine (Online
    /// Boutique, motion, parking: Figs. 9-12, the claims table) and the synthetic sweep.
    Reproduce(ReproduceArgs),
    /// Redraw from the CSV files alone: a `reproduce` directory's summary.md and figures, or a
    /// run directory's figures.
    Summarize {
        /// A directory written by `spright-bench reproduce` or `spright-bench run`.
        dir: PathBuf,
    },
    /// Deploy a chain and serve it for any client (wrk, Locust, curl) until Ctrl-C or SIGTERM;
    /// prints the endpoint, Host header, routes and every component's pid.
    Deploy(DeployArgs),
    /// Start one function of a running chain on demand, round after round, and time each phase
    /// (S-SPRIGHT; writes cold_starts.csv in the Knative model's phases, rounds.csv, summary.md).
    ColdStart(ColdStartArgs),
    /// Drive any HTTP server with the load generator (no deployment); prints a summary.
    Load(LoadArgs),
    /// Report what this machine has: kernel, BPF/SOCKMAP, hugepages, DPDK, clang.
    Env {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the registered backends and the options each accepts (`--backend-opt`).
    Backends,
    /// Real Knative: generate what deploys a chain on a Knative cluster (see deploy/kind/).
    #[command(subcommand)]
    Knative(KnativeCmd),
    /// Run one component process of a backend (used by the driver itself).
    #[command(hide = true)]
    Component {
        backend: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KnativeCmd {
    /// Write Knative Service manifests (services.yaml), a Dockerfile and the chain spec into a
    /// directory, with the chain's [knative] knobs (containerConcurrency, min-scale, max-scale,
    /// target-burst-capacity, timeoutSeconds, scale-to-zero-grace-period).
    Manifests {
        /// Chain spec file (TOML).
        #[arg(long)]
        chain: PathBuf,
        /// Output directory (created; existing files of the same names are replaced).
        #[arg(long, default_value = "knative-manifests")]
        out: PathBuf,
        /// Container image the services run.
        #[arg(long, default_value = "spright-bench:dev")]
        image: String,
        /// Kubernetes namespace of the services.
        #[arg(long, default_value = knative_baseline::names::NAMESPACE)]
        namespace: String,
        /// Knative's external domain (hosts are <service>.<namespace>.<domain>).
        #[arg(long, default_value = knative_baseline::names::DOMAIN)]
        domain: String,
        /// Ingress the functions send their calls to (in-cluster address).
        #[arg(long, default_value = knative_baseline::manifests::KOURIER)]
        via: String,
    },
}

#[derive(Args, Clone)]
struct LoadFlags {
    /// Load generator threads: event loops of their own (on cores of their own where there are
    /// enough), each with its share of the arrivals or users; their histograms are merged exactly.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    loadgen_threads: u16,
    /// Load pattern: open (arrivals on a schedule), closed (users with think time), burst, trace
    /// (arrivals at the event times of a file).
    #[arg(long, value_parser = ["open", "closed", "burst", "trace"])]
    pattern: Option<String>,
    /// Open loop: offered requests per second.
    #[arg(long)]
    rate: Option<f64>,
    /// Open loop: arrival process.
    #[arg(long, value_parser = ["constant", "poisson"])]
    arrival: Option<String>,
    /// Closed loop: number of users, each with its own connection.
    #[arg(long)]
    users: Option<u32>,
    /// Closed loop: think time range in milliseconds, MIN-MAX (uniform).
    #[arg(long, value_parser = parse_range)]
    think_ms: Option<(u64, u64)>,
    /// Burst: requests sent at once.
    #[arg(long)]
    burst_size: Option<u32>,
    /// Burst: seconds between bursts.
    #[arg(long)]
    burst_every: Option<f64>,
    /// Measured seconds (after the warm-up).
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds of load before measurement starts (not recorded).
    #[arg(long)]
    warmup: Option<f64>,
    /// Open loop/burst: connections the generator may use at once; due requests wait for one
    /// (the wait counts as latency), so throughput is at most the connections over the mean
    /// latency.
    #[arg(long)]
    connections: Option<u32>,
    /// A request without a response after this many milliseconds counts as a timeout.
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Seed for arrivals, think times and the route mix.
    #[arg(long)]
    seed: Option<u64>,
    /// Trace: a file of event times, one per line (`#` lines skipped), replayed relative to the
    /// first event; read as a stream and checked before the load starts.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Trace: the unit of the file's times.
    #[arg(long, value_parser = ["s", "ms"])]
    trace_unit: Option<String>,
    /// Trace: multiply every replayed time by this (0.1 replays ten times faster).
    #[arg(long)]
    time_scale: Option<f64>,
    /// Chains with [load.user] tasks, closed loop: users started per second (0: spread over one
    /// think time). The paper: 500 for SPRIGHT, 200 for Knative and gRPC.
    #[arg(long)]
    spawn_rate: Option<f64>,
    /// Chains with [load.user] tasks, open loop: each arrival is a task of one of this many users.
    #[arg(long)]
    user_pool: Option<u32>,
}

impl LoadFlags {
    /// Apply the user flags to `users` (a chain's [load.user]); an error if given without one.
    fn apply_users(&self, users: Option<&mut workloads::users::Users>) -> Result<()> {
        if self.spawn_rate.is_none() && self.user_pool.is_none() {
            return Ok(());
        }
        let Some(u) = users else {
            anyhow::bail!("--spawn-rate and --user-pool need a chain with [load.user] tasks");
        };
        if let Some(r) = self.spawn_rate {
            if !r.is_finite() || r < 0.0 {
                anyhow::bail!("--spawn-rate {r} must be >= 0 users per second");
            }
            u.spawn_rate = r;
        }
        if let Some(p) = self.user_pool {
            if p == 0 {
                anyhow::bail!("--user-pool must be at least 1");
            }
            u.pool = p;
        }
        Ok(())
    }

    fn overrides(&self) -> LoadOverrides {
        LoadOverrides {
            pattern: self.pattern.clone(),
            rate: self.rate,
            arrival: self.arrival.clone(),
            users: self.users,
            think_min_ms: self.think_ms.map(|t| t.0),
            think_max_ms: self.think_ms.map(|t| t.1),
            burst_size: self.burst_size,
            burst_every_s: self.burst_every,
            duration_s: self.duration,
            warmup_s: self.warmup,
            connections: self.connections,
            timeout_ms: self.timeout_ms,
            seed: self.seed,
            trace: self.trace.clone(),
            trace_unit: self.trace_unit.clone(),
            time_scale: self.time_scale,
        }
    }
}

/// What to deploy and where: the arguments `run` and `deploy` share.
#[derive(Args)]
struct Target {
    /// Dataplane backend (see `spright-bench backends`).
    #[arg(long)]
    backend: String,
    /// Chain spec file (TOML), e.g. workloads/chains/synthetic-2.toml. For `run`, its [load]
    /// table gives the defaults that the load flags override.
    #[arg(long)]
    chain: PathBuf,
    /// A backend option, KEY=VALUE (repeat for several); `spright-bench backends` lists each
    /// backend's options and defaults. Recorded in the manifest and summary.
    #[arg(long = "backend-opt", value_name = "KEY=VALUE")]
    backend_opt: Vec<String>,
    /// Where each process runs: none, paper (the load generator on the first CPU(s), one per
    /// generator thread, the gateway on the next (three from 8 CPUs), each function on a core
    /// of its own, round robin; on 2 CPUs generator and gateway share the first), one-core, or
    /// a map such as gateway=0,fn1=1,fn2=1,loadgen=0 (keys loadgen, gateway, ingress,
    /// activator, fn<ID> or a function's name, functions for every other function; values a
    /// CPU or a range). Recorded with every process's CPUs.
    #[arg(long, default_value = "none", value_name = "POLICY")]
    placement: String,
}

impl Target {
    /// The backend's options, validated against what it declares.
    fn backend_options(&self) -> Result<dataplane_api::BackendOptions> {
        Ok(harness::registry::options(harness::registry::get(&self.backend)?, &self.backend_opt)?)
    }

    fn placement(&self) -> Result<dataplane_api::Placement> {
        placement(&self.placement)
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Results directory to create (must not exist or be empty).
    /// Default: results/runs/<time>-<chain>-<backend>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// CPU sampling interval in milliseconds.
    #[arg(long, default_value_t = 250)]
    sample_ms: u64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// A chain that declares `compress` (the paper's motion and parking experiments) runs
    /// compressed by that factor; this runs it at its full length instead.
    #[arg(long)]
    full: bool,
    /// Wake every function up at the start and --prewarm-lead seconds before each burst, as the
    /// paper's Knative client did for parking (backends that never scale to zero: nothing to do).
    #[arg(long)]
    prewarm: bool,
    /// Seconds before each burst for --prewarm, at the paper's time scale (the chain's
    /// `compress` applies).
    #[arg(long, default_value_t = 20.0, requires = "prewarm")]
    prewarm_lead: f64,
    #[command(flatten)]
    load: LoadFlags,
}

#[derive(Args)]
struct ReproduceArgs {
    /// Output directory. Default: results/runs/reproduce-<time>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Directory of chain specs.
    #[arg(long, default_value = "workloads/chains")]
    chains_dir: PathBuf,
    /// Experiments to run, in this order: sweep (synthetic chains, rising open-loop rates),
    /// boutique (Online Boutique with closed-loop users: Figs. 9, 10), motion (Fig. 11),
    /// parking (Fig. 12).
    #[arg(long, value_delimiter = ',', default_value = "sweep,boutique,motion,parking")]
    experiments: Vec<String>,
    /// About 10 minutes here: shorter Online Boutique runs, motion and parking compressed
    /// further, one repetition, a short sweep.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// The paper's durations (Online Boutique 3 minutes, motion's hour, parking's 600 s) and 3
    /// repetitions everywhere: hours.
    #[arg(long)]
    full: bool,
    /// Repetitions of the headline comparison (Online Boutique like for like, which is also
    /// S-SPRIGHT vs D-SPRIGHT at light load); backends interleaved within each. Default: 3 (1
    /// with --quick).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=100))]
    repeat: Option<u16>,
    /// Online Boutique user scale: this times the paper's 5,000 (Knative, gRPC) and 25,000
    /// (SPRIGHT) users. Default: measured first (the largest at which Knative and gRPC stay
    /// unsaturated).
    #[arg(long)]
    users_factor: Option<f64>,
    /// Measured seconds of each Online Boutique run (default 60; 20 with --quick, 180 with --full).
    #[arg(long)]
    boutique_duration: Option<f64>,
    /// Time compression of motion and parking in place of their specs' (1: full length).
    #[arg(long)]
    compress: Option<f64>,
    /// A reference run from a larger machine, cited for claims this machine cannot show.
    #[arg(long, default_value = "results/reference/reproduce-16core-threads/sweep")]
    reference: PathBuf,
    /// Chains of the sweep (names of files in --chains-dir). Default: synthetic-5 (with --full:
    /// synthetic-2, synthetic-5, call-tree).
    #[arg(long, value_delimiter = ',')]
    chains: Vec<String>,
    /// Backends to run (default: the paper's four, grpc, s-spright, d-spright, knative).
    #[arg(long, value_delimiter = ',')]
    backends: Vec<String>,
    /// A backend option, [BACKEND:]KEY=VALUE (repeat for several): with a backend, for that
    /// backend only; without, for every chosen backend that has the option.
    #[arg(long = "backend-opt", value_name = "[BACKEND:]KEY=VALUE")]
    backend_opt: Vec<String>,
    /// Sweep: first offered rate; each further point multiplies it by --step.
    #[arg(long, default_value_t = 250.0)]
    start_rate: f64,
    /// Sweep: rate factor between points (2: doubling; e.g. 1.25 for a finer ladder near capacity).
    #[arg(long, default_value_t = 2.0)]
    step: f64,
    /// Sweep: most ladder points per backend and chain (default 12, 4 with --quick; the ladder
    /// ends where the backend, or the load generator, saturates).
    #[arg(long)]
    max_points: Option<usize>,
    /// Sweep: after the ladder, bisect between the last unsaturated and the first saturated
    /// rate until they are within this factor (1.1: capacity to within 10%); 1 turns it off.
    #[arg(long, default_value_t = 1.1)]
    refine: f64,
    /// Sweep: measured seconds per point (default 5, 2 with --quick).
    #[arg(long)]
    duration: Option<f64>,
    /// Sweep: warm-up seconds per point.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Sweep: connections of the load generator at the first point (default: each chain's, 64
    /// unless its file says). A request due while all are busy waits for one, and the wait
    /// counts as latency, so a point's throughput is at most the connections over the mean
    /// latency: with cores to spare, a backend's ceiling can be the pool's. So a saturated
    /// point with at least half its connections busy is measured again with 4x the connections
    /// (at most 1,024), and the ramp goes on with that pool (summary.md lists each check).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    connections: Option<u32>,
    /// Sweep: keep every point on the first point's pool (no second measurement with more
    /// connections where a point saturates; see --connections).
    #[arg(long)]
    no_pool_check: bool,
    /// Load generator threads per run (see `run --help`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    loadgen_threads: u16,
    /// Placement policy (see `run --help`); repeat to run the sweep under each, e.g.
    /// `--placement none --placement paper` to measure what wake-ups across cores cost (the
    /// other experiments use the first).
    #[arg(long, default_value = "none", value_name = "POLICY")]
    placement: Vec<String>,
}

#[derive(Args)]
struct DeployArgs {
    #[command(flatten)]
    target: Target,
    /// Sample the components' CPU and memory while serving and write them here at the end
    /// (the columns of a run's cpu.csv).
    #[arg(long)]
    cpu_log: Option<PathBuf>,
    /// CPU sampling interval in milliseconds (with --cpu-log).
    #[arg(long, default_value_t = 250)]
    sample_ms: u64,
    /// Directory for the components' logs. Default: results/runs/<time>-deploy-<chain>-<backend>/logs.
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

#[derive(Args)]
struct ColdStartArgs {
    /// Dataplane backend: one that can park a function and start it on demand (s-spright).
    #[arg(long, default_value = "s-spright")]
    backend: String,
    /// Chain spec file (TOML), e.g. workloads/chains/cold-start.toml.
    #[arg(long)]
    chain: PathBuf,
    /// The function to start on demand (its name in the chain).
    #[arg(long)]
    function: String,
    /// The route requests take (default: the first route that visits the function).
    #[arg(long)]
    route: Option<String>,
    /// Cold starts to measure, each followed by one warm request.
    #[arg(long, default_value_t = 20)]
    rounds: u32,
    /// A backend option, KEY=VALUE (repeat for several).
    #[arg(long = "backend-opt", value_name = "KEY=VALUE")]
    backend_opt: Vec<String>,
    /// Results directory to create. Default: results/runs/<time>-cold-start-<chain>-<backend>.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct LoadArgs {
    /// Target, http://HOST[:PORT][/PATH][?QUERY] (loopback or this machine's own test hosts
    /// only; no https; a #fragment is not sent). Responses must carry a Content-Length (a
    /// chunked one counts as an error).
    #[arg(long)]
    url: String,
    /// Request body size in bytes.
    #[arg(long, default_value_t = 0)]
    body_bytes: usize,
    /// HTTP method.
    #[arg(long, default_value = "GET", value_parser = ["GET", "POST"])]
    method: String,
    /// A header every request carries, 'Name: value' (repeat for several). A Host header
    /// replaces the URL's: the Knative model's ingress routes by it (`run` logs the one to send).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    #[command(flatten)]
    load: LoadFlags,
}

fn parse_range(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once('-').ok_or_else(|| format!("{s:?}: expected MIN-MAX"))?;
    let a = a.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    let b = b.trim().parse().map_err(|e| format!("{s:?}: {e}"))?;
    Ok((a, b))
}

/// A `--placement` policy over the CPUs this process may use.
fn placement(text: &str) -> Result<dataplane_api::Placement> {
    Ok(dataplane_api::Placement::parse(text, dataplane_api::Placement::allowed_here())?)
}

fn stamp() -> String {
    harness::clock::wall_clock().1.replace([':', '-'], "").trim_end_matches('Z').to_string()
}

/// `reproduce`'s options, checked.
fn evaluation_options(
    a: ReproduceArgs,
    out: PathBuf,
    exe: PathBuf,
    command_line: Vec<String>,
) -> Result<harness::evaluation::EvalOptions> {
    use harness::evaluation::{Experiment, Length, Settings};
    let length = match (a.quick, a.full) {
        (true, _) => Length::Quick,
        (_, true) => Length::Full,
        _ => Length::Default,
    };
    let mut settings = Settings::of(length);
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if let Some(r) = a.repeat {
        settings.headline_repeat = r as usize;
    }
    if let Some(f) = a.users_factor {
        if !(positive(f) && f <= 20.0) {
            anyhow::bail!("--users-factor {f} must be in (0, 20]");
        }
        settings.users_factor = Some(f);
    }
    if let Some(d) = a.boutique_duration {
        if !positive(d) {
            anyhow::bail!("--boutique-duration {d} must be > 0 seconds");
        }
        settings.boutique_s = d;
        settings.boutique_warmup_s = settings.boutique_warmup_s.min(d.max(1.0));
    }
    if let Some(c) = a.compress {
        if !(positive(c) && c <= 1.0) {
            anyhow::bail!("--compress {c} must be in (0, 1]");
        }
        settings.motion_compress = Some(c);
        settings.parking_compress = Some(c);
    }
    let experiments: Vec<Experiment> = a.experiments.iter().map(|e| Experiment::parse(e)).collect::<Result<_>>()?;
    if experiments.is_empty() {
        anyhow::bail!("--experiments names none");
    }
    let chains = match (a.chains.is_empty(), length) {
        (false, _) => a.chains,
        (true, Length::Full) => harness::sweep::DEFAULT_CHAINS.iter().map(|s| s.to_string()).collect(),
        (true, _) => vec!["synthetic-5".to_string()],
    };
    let sweep = harness::sweep::SweepOptions {
        chains,
        start_rate: a.start_rate,
        step: a.step,
        max_points: a.max_points.unwrap_or(if a.quick { 4 } else { 12 }),
        refine: a.refine,
        duration_s: a.duration.unwrap_or(if a.quick { 2.0 } else { 5.0 }),
        warmup_s: a.warmup,
        connections: a.connections,
        pool_check: !a.no_pool_check,
        placements: a.placement.iter().map(|p| placement(p)).collect::<Result<_>>()?,
    };
    if !positive(sweep.start_rate) || sweep.max_points == 0 || !positive(sweep.duration_s) {
        anyhow::bail!("--start-rate, --max-points and --duration must be > 0");
    }
    if !(sweep.refine.is_finite() && sweep.refine >= 1.0) {
        anyhow::bail!("--refine {} must be >= 1 (1: no bisection)", sweep.refine);
    }
    if !(sweep.step.is_finite() && sweep.step > 1.0) {
        anyhow::bail!("--step {} must be > 1", sweep.step);
    }
    let top = sweep.start_rate * sweep.step.powf(sweep.max_points as f64 - 1.0);
    if top > workloads::load::MAX_RATE {
        anyhow::bail!(
            "--start-rate {} with --step {} and --max-points {} would offer up to {top:.0} req/s; the most a point may offer is {:.0}",
            sweep.start_rate,
            sweep.step,
            sweep.max_points,
            workloads::load::MAX_RATE
        );
    }
    Ok(harness::evaluation::EvalOptions {
        out,
        on: harness::testbed::Testbed {
            chains_dir: a.chains_dir,
            backends: a.backends,
            backend_options: a.backend_opt,
            exe,
            command_line,
            loadgen_threads: a.loadgen_threads as usize,
        },
        experiments,
        settings,
        placement: sweep.placements.first().cloned().unwrap_or_default(),
        sweep,
        reference: a.reference.is_dir().then_some(a.reference),
    })
}

/// What `summarize` can redraw, by the file that marks it.
#[derive(Clone, Copy)]
enum Summarizable {
    Reproduce,
    Sweep,
    Run,
}

impl Summarizable {
    fn of(dir: &Path) -> Option<Summarizable> {
        use Summarizable::*;
        [(Reproduce, "paper.json"), (Sweep, "comparison.csv"), (Run, "summary.csv")]
            .into_iter()
            .find(|(_, marker)| dir.join(marker).is_file())
            .map(|(kind, _)| kind)
    }

    fn name(self) -> &'static str {
        match self {
            Summarizable::Reproduce => "reproduce",
            Summarizable::Sweep => "sweep",
            Summarizable::Run => "run",
        }
    }

    /// The directories right under `dir` that `summarize` takes, as `; it holds: NAME (KIND), ...`
    /// (for a user who named the parent of their runs), or nothing.
    fn inside(dir: &Path) -> String {
        let mut found: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some(format!("{} ({})", e.file_name().to_string_lossy(), Self::of(&e.path())?.name())))
            .collect();
        found.sort();
        match found.is_empty() {
            true => String::new(),
            false => format!("; it holds: {}", found.join(", ")),
        }
    }
}

fn main() {
    let cli = Cli::parse();
    if let Cmd::Component { backend, args } = cli.cmd {
        std::process::exit(component(&backend, args));
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = real_main(cli.cmd) {
        eprintln!("error: {}", harness::error_report(e.as_ref()));
        std::process::exit(1);
    }
}

fn component(backend: &str, args: Vec<String>) -> i32 {
    let b = match harness::registry::get(backend) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match b.component_main(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", harness::error_report(e.as_ref()));
            1
        }
    }
}

fn real_main(cmd: Cmd) -> Result<()> {
    let command_line: Vec<String> = std::env::args().collect();
    let exe = std::env::current_exe().context("locate own executable")?;
    match cmd {
        Cmd::Run(a) => {
            let t = &a.target;
            let backend_options = t.backend_options()?;
            let mut chain =
                if a.full { workloads::load_chain_full(&t.chain)? } else { workloads::load_chain(&t.chain)? };
            if chain.time_factor < 1.0 {
                tracing::info!(
                    "chain {}: every time compressed x{} (run the paper's full length with --full)",
                    chain.name,
                    chain.time_factor
                );
            }
            a.load.overrides().apply(&mut chain.load)?;
            a.load.apply_users(chain.users.as_mut())?;
            if a.sample_ms == 0 {
                anyhow::bail!("--sample-ms must be > 0");
            }
            if !(a.prewarm_lead.is_finite() && a.prewarm_lead >= 0.0) {
                anyhow::bail!("--prewarm-lead {} must be >= 0 seconds", a.prewarm_lead);
            }
            let out = a
                .out
                .unwrap_or_else(|| PathBuf::from(format!("results/runs/{}-{}-{}", stamp(), chain.name, t.backend)));
            let opts = RunOptions {
                backend: t.backend.clone(),
                backend_options,
                chain,
                out,
                sample_interval: Duration::from_millis(a.sample_ms),
                exe,
                progress: !a.quiet,
                command_line,
                ready_timeout: Duration::from_secs(20),
                prewarm_lead_s: a.prewarm.then_some(a.prewarm_lead),
                placement: t.placement()?,
                loadgen_threads: a.load.loadgen_threads as usize,
            };
            let outcome = harness::run::run(&opts, &harness::stop_flag())?;
            let s = &outcome.summary;
            println!(
                "{} on {}: {} ok, {} errors, {:.1} req/s, p50 {:.1} us, p99 {:.1} us, {:.3} CPU-s per 1k requests{}",
                s.chain,
                s.backend,
                s.ok,
                s.errors,
                s.achieved_rps,
                s.p50_us,
                s.p99_us,
                s.sut_cpu_s_per_1k,
                if s.interrupted { " (interrupted)" } else { "" }
            );
            println!("results: {}", outcome.dir.display());
        }
        Cmd::Reproduce(a) => {
            let out = a.out.clone().unwrap_or_else(|| PathBuf::from(format!("results/runs/reproduce-{}", stamp())));
            let o = evaluation_options(a, out, exe, command_line)?;
            let dir = harness::evaluation::evaluate(&o, &harness::stop_flag())?;
            println!("results: {}", dir.display());
            println!("summary: {}", dir.join("summary.md").display());
            println!("claims: {}", dir.join("claims.md").display());
        }
        Cmd::Deploy(a) => {
            let t = &a.target;
            let backend_options = t.backend_options()?;
            let chain = workloads::load_chain(&t.chain)?;
            if a.sample_ms == 0 {
                anyhow::bail!("--sample-ms must be > 0");
            }
            let log_dir = a.log_dir.unwrap_or_else(|| {
                PathBuf::from(format!("results/runs/{}-deploy-{}-{}/logs", stamp(), chain.name, t.backend))
            });
            let o = harness::deploy::DeployOptions {
                backend: t.backend.clone(),
                backend_options,
                placement: t.placement()?,
                chain,
                log_dir,
                cpu_log: a.cpu_log,
                sample_interval: Duration::from_millis(a.sample_ms),
                exe,
                ready_timeout: Duration::from_secs(20),
            };
            harness::deploy::serve(&o, &harness::stop_flag(), &mut std::io::stdout())?;
        }
        Cmd::ColdStart(a) => {
            let backend_options = harness::registry::options(harness::registry::get(&a.backend)?, &a.backend_opt)?;
            let chain = workloads::load_chain(&a.chain)?;
            let out = a.out.unwrap_or_else(|| {
                PathBuf::from(format!("results/runs/{}-cold-start-{}-{}", stamp(), chain.name, a.backend))
            });
            let o = harness::coldstart::ColdStartOptions {
                backend: a.backend,
                backend_options,
                chain,
                function: a.function,
                route: a.route,
                rounds: a.rounds,
                out,
                exe,
                command_line,
                ready_timeout: Duration::from_secs(20),
            };
            let outcome = harness::coldstart::measure(&o, &harness::stop_flag())?;
            println!("results: {}", outcome.dir.display());
            println!("summary: {}", outcome.dir.join("summary.md").display());
        }
        Cmd::Load(a) => load_url(a)?,
        Cmd::Summarize { dir } => {
            match Summarizable::of(&dir) {
                Some(Summarizable::Reproduce) => harness::evaluation::summarize(&dir)?,
                Some(Summarizable::Sweep) => harness::sweep::summarize(&dir)?,
                Some(Summarizable::Run) => harness::figures::run_figures(&dir)?,
                None if !dir.is_dir() => anyhow::bail!("{}: no such directory", dir.display()),
                None => anyhow::bail!(
                    "{}: neither a reproduce directory (paper.json), a sweep (comparison.csv) nor a run (summary.csv){}",
                    dir.display(),
                    Summarizable::inside(&dir)
                ),
            }
            println!("summary: {}", dir.join("summary.md").display());
        }
        Cmd::Env { json } => {
            let env = harness::envinfo::collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&env)?);
            } else {
                print!("{}", env.render());
            }
        }
        Cmd::Backends => {
            for b in harness::registry::all() {
                println!("{:14} {}", b.name(), b.label());
                for o in b.options() {
                    println!("{:14}   --backend-opt {}", "", o.describe());
                }
            }
        }
        Cmd::Knative(KnativeCmd::Manifests { chain, out, image, namespace, domain, via }) => {
            let chain = workloads::load_chain(&chain)?;
            let o = knative_baseline::manifests::Options { image, namespace, domain, via };
            let files = knative_baseline::manifests::write(&chain, &o, &out)
                .with_context(|| format!("write manifests into {}", out.display()))?;
            for f in files {
                println!("{}", f.display());
            }
        }
        Cmd::Component { .. } => unreachable!("handled before logging is set up"),
    }
    Ok(())
}

/// Drive an arbitrary URL (used to compare the generator with wrk against one server).
fn load_url(a: LoadArgs) -> Result<()> {
    let mut profile = LoadProfile::default();
    a.load.overrides().apply(&mut profile)?;
    a.load.apply_users(None)?;
    let threads = a.load.loadgen_threads as usize;
    let r = harness::loadgen::url::drive(
        &a.url,
        &a.method,
        &a.headers,
        a.body_bytes,
        profile,
        threads,
        &harness::stop_flag(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let rec = &r.recorder;
    let p = harness::results::Percentiles::of(&rec.overall);
    println!(
        "{} ok, {} errors in {:.2} s: {:.1} req/s; latency p50 {:.1} us, p99 {:.1} us, max {:.1} us",
        rec.ok_total(),
        rec.error_total(),
        r.measured_s,
        rec.ok_total() as f64 / r.measured_s.max(1e-9),
        p.p50_us,
        p.p99_us,
        p.max_us
    );
    let lag = harness::results::Percentiles::of(&rec.send_lag);
    println!(
        "delivered: {:.1} responses/s inside the window (whenever due); send lag p50 {:.1} us, p99 {:.1} us",
        rec.completed_in_window as f64 / r.measured_s.max(1e-9),
        lag.p50_us,
        lag.p99_us
    );
    if r.threads.len() > 1 {
        for (i, t) in r.threads.iter().enumerate() {
            println!(
                "  thread {i}: {} requests, send lag p50 {:.1} us, p99 {:.1} us",
                t.requests, t.send_lag_p50_us, t.send_lag_p99_us
            );
        }
    }
    for (k, v) in &rec.errors {
        println!("  error {k}: {v}");
    }
    Ok(())
}
