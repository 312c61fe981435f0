//! `make reproduce`: the paper's evaluation, scaled to this machine, as one plan of experiments
//! written into one directory:
//!
//! - `sweep/`: the synthetic sweep ([`crate::sweep`]): latency against throughput and CPU per
//!   request, every backend, open loop;
//! - `boutique/`: Online Boutique with the paper's closed-loop users (Figs. 9 and 10). The paper
//!   ran 25,000 users against SPRIGHT and 5,000 against Knative and gRPC. Here every user count
//!   is scaled by one factor, measured first (`boutique/calibration/`): the largest at which the
//!   Knative model and gRPC, at the scaled "5,000", both stay unsaturated. Every backend then runs
//!   at that count (`like-for-like`, repeated, backends interleaved) and SPRIGHT also at five
//!   times it (`paper-users`), as in the paper;
//! - `motion/` and `parking/`: the IoT chains on S-SPRIGHT and Knative (Figs. 11 and 12),
//!   compressed in time as their specs say;
//! - `runs.csv`: the index of every run (experiment, series, backend, users, repetition,
//!   directory), appended as runs finish, so an interrupted plan keeps what ran;
//! - `paper.json`: how it was run (settings, machine, the measured user scale);
//! - the figures, `aggregate.csv`, `claims.{csv,md}` and `summary.md`, made by
//!   [`summarize`] from the files alone.
//!
//! The analysis of many runs (grouping, repetitions, ratios, claims) is the `spright-analysis`
//! crate (polars); the figures are [`figures`].

pub mod figures;
pub mod plan;

use crate::results::Summary;
use crate::run::{run, RunOptions};
use crate::sweep::{self, Ramp, SweepOptions};
use crate::testbed::Testbed;
use anyhow::{bail, Context, Result};
use dataplane_api::BackendOptions;
use plan::{Plan, Progress, RAMP_POINTS_ESTIMATE, RUN_OVERHEAD_S};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use workloads::{Chain, LoadOverrides};

/// The experiments of the plan, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Experiment {
    Sweep,
    Boutique,
    Motion,
    Parking,
}

impl Experiment {
    pub const ALL: [Experiment; 4] = [Experiment::Sweep, Experiment::Boutique, Experiment::Motion, Experiment::Parking];

    pub fn name(self) -> &'static str {
        match self {
            Experiment::Sweep => "sweep",
            Experiment::Boutique => "boutique",
            Experiment::Motion => "motion",
            Experiment::Parking => "parking",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|e| e.name() == s).with_context(|| {
            format!(
                "unknown experiment {s:?}; use {}",
                Self::ALL.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// How long the plan is: `quick` (at most about 10 minutes here), `default` (about 45), `full`
/// (the paper's durations, 3 repetitions everywhere: hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Length {
    Quick,
    Default,
    Full,
}

/// The paper's Online Boutique clients: Knative and gRPC got 5,000 users, SPRIGHT five times as
/// many; each user thinks 1-10 s between tasks.
pub const PAPER_KNATIVE_USERS: u32 = 5000;
pub const PAPER_SPRIGHT_MULTIPLE: u32 = 5;
const THINK_MS: (u64, u64) = (1000, 10_000);

/// Everything the plan's length decides, recorded in `paper.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub length: Length,
    /// Measured and warm-up seconds of each Online Boutique run (users are all started within
    /// the first 80% of the warm-up).
    pub boutique_s: f64,
    pub boutique_warmup_s: f64,
    /// Repetitions of the headline comparisons (Online Boutique like for like, which is also
    /// S-SPRIGHT vs D-SPRIGHT at light load) and of everything else.
    pub headline_repeat: usize,
    pub other_repeat: usize,
    /// Time compression of motion and parking in place of their specs' (`None`: the spec's).
    pub motion_compress: Option<f64>,
    pub parking_compress: Option<f64>,
    /// The user-scale calibration: a ladder of Knative users from `start`, doubling, at most
    /// `max_points`, then bisection to within `refine`; each point `window_s` measured after
    /// `warmup_s`.
    pub calibration_start_users: u32,
    pub calibration_max_points: usize,
    pub calibration_refine: f64,
    pub calibration_window_s: f64,
    pub calibration_warmup_s: f64,
    /// A user scale given (`--users-factor`): no calibration.
    pub users_factor: Option<f64>,
}

impl Settings {
    pub fn of(length: Length) -> Self {
        let base = Settings {
            length,
            boutique_s: 60.0,
            boutique_warmup_s: 10.0,
            headline_repeat: 3,
            other_repeat: 1,
            motion_compress: None,
            parking_compress: None,
            calibration_start_users: 100,
            calibration_max_points: 6,
            calibration_refine: 1.25,
            calibration_window_s: 10.0,
            calibration_warmup_s: 5.0,
            users_factor: None,
        };
        match length {
            Length::Default => base,
            Length::Quick => Settings {
                boutique_s: 20.0,
                boutique_warmup_s: 5.0,
                headline_repeat: 1,
                // Whole-second stable windows: 60 s x 1/60 and x 0.1.
                motion_compress: Some(1.0 / 60.0),
                parking_compress: Some(0.1),
                calibration_start_users: 200,
                calibration_max_points: 3,
                calibration_refine: 1.0,
                calibration_window_s: 6.0,
                calibration_warmup_s: 3.0,
                ..base
            },
            Length::Full => Settings {
                boutique_s: 180.0,
                boutique_warmup_s: 30.0,
                other_repeat: 3,
                motion_compress: Some(1.0),
                parking_compress: Some(1.0),
                ..base
            },
        }
    }
}

pub struct EvalOptions {
    pub out: PathBuf,
    /// What every experiment runs on (motion and parking run S-SPRIGHT and Knative among its
    /// backends).
    pub on: Testbed,
    pub experiments: Vec<Experiment>,
    pub settings: Settings,
    /// The sweep's parameters (it writes into `<out>/sweep`).
    pub sweep: SweepOptions,
    /// Placement of the paper experiments (the sweep has its own list).
    pub placement: dataplane_api::Placement,
    /// A committed reference run from a larger machine, cited where this one cannot show a
    /// claim (`results/reference/reproduce-16core-threads/sweep`).
    pub reference: Option<PathBuf>,
}

/// How the evaluation was run: `paper.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub command_line: Vec<String>,
    pub machine: String,
    pub cores: usize,
    pub experiments: Vec<Experiment>,
    pub backends: Vec<String>,
    /// Each backend's options, `k=v, k=v`.
    pub backend_options: BTreeMap<String, String>,
    pub placement: String,
    pub loadgen_threads: usize,
    pub settings: Settings,
    /// The user scale: measured (or given) factor, and the users it gives.
    pub users_factor: Option<f64>,
    pub users_factor_source: Option<String>,
    pub knative_users: Option<u32>,
    pub spright_users: Option<u32>,
    /// Functions of Online Boutique (D-SPRIGHT needs a core per poller beside the gateway's and
    /// the load generator's to show the paper's S-vs-D comparison).
    pub boutique_functions: usize,
    pub reference: Option<PathBuf>,
}

/// One row of `runs.csv`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IndexRow {
    pub experiment: String,
    /// `calibration`, `like-for-like`, `paper-users` (Online Boutique), `paper` (motion, parking).
    pub series: String,
    pub backend: String,
    /// Closed-loop users (Online Boutique); 0 otherwise.
    pub users: u32,
    pub repetition: usize,
    /// The run directory, relative to the evaluation's.
    pub dir: String,
}

/// What every run of the plan shares.
struct Ctx<'a> {
    o: &'a EvalOptions,
    options: BTreeMap<&'static str, BackendOptions>,
    stop: &'a Arc<AtomicBool>,
    progress: &'a Progress,
    index: std::cell::RefCell<csv::Writer<std::fs::File>>,
}

impl Ctx<'_> {
    /// Run `chain` on `backend` into `<out>/<row.dir>` and index it; `None` when interrupted.
    fn run(&self, chain: Chain, backend: &str, row: IndexRow, prewarm_lead_s: Option<f64>) -> Result<Option<Summary>> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let options = self.options[backend].clone();
        let opts = RunOptions {
            prewarm_lead_s,
            ..self.o.on.run_options(backend, options, chain, self.o.out.join(&row.dir), self.o.placement.clone())
        };
        let outcome = run(&opts, self.stop)?;
        let s = outcome.summary;
        self.progress.say(&format!(
            "    {backend}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {} errors, {} cold, SUT CPU {:.1} s",
            s.achieved_rps,
            s.p50_us / 1e3,
            s.p99_us / 1e3,
            s.errors,
            s.cold_requests,
            s.sut_cpu_s
        ));
        let mut w = self.index.borrow_mut();
        w.serialize(&row).context("write runs.csv")?;
        w.flush().context("write runs.csv")?;
        Ok((!s.interrupted).then_some(s))
    }
}

/// Motion or parking at the plan's compression.
fn iot_chain(o: &EvalOptions, e: Experiment) -> Result<Chain> {
    let compress = match e {
        Experiment::Motion => o.settings.motion_compress,
        _ => o.settings.parking_compress,
    };
    let path = o.on.chain_file(e.name());
    Ok(match compress {
        Some(f) => workloads::load_chain_compressed(&path, f)?,
        None => workloads::load_chain(&path)?,
    })
}

/// Online Boutique with `users` closed-loop users thinking 1-10 s, all started within 80% of
/// the warm-up.
fn boutique_chain(base: &Chain, users: u32, window_s: f64, warmup_s: f64) -> Result<Chain> {
    let mut c = base.clone();
    LoadOverrides {
        pattern: Some("closed".into()),
        users: Some(users),
        think_min_ms: Some(THINK_MS.0),
        think_max_ms: Some(THINK_MS.1),
        duration_s: Some(window_s),
        warmup_s: Some(warmup_s),
        ..Default::default()
    }
    .apply(&mut c.load)?;
    if let Some(u) = &mut c.users {
        u.spawn_rate = (f64::from(users) / (0.8 * warmup_s).max(0.1)).max(1.0);
    }
    Ok(c)
}

/// Backends of `all` named in `want`, in `all`'s order.
fn among<'a>(all: &[&'a str], want: &[&str]) -> Vec<&'a str> {
    all.iter().copied().filter(|b| want.contains(b)).collect()
}

/// The plan of `o`: every step with its estimate, in the order [`evaluate`] runs them.
fn make_plan(o: &EvalOptions, backends: &[&str], chains: &BTreeMap<Experiment, Chain>) -> Plan {
    let s = &o.settings;
    let mut p = Plan::default();
    for e in &o.experiments {
        match e {
            Experiment::Sweep => {
                let point = o.sweep.warmup_s + o.sweep.duration_s + RUN_OVERHEAD_S;
                let points = RAMP_POINTS_ESTIMATE.min(o.sweep.max_points as f64);
                let placements = o.sweep.placements.len().max(1);
                for _ in 0..placements {
                    for c in &o.sweep.chains {
                        for b in backends {
                            p.add("sweep", format!("{c} on {b}, open-loop rate ramp"), points * point);
                        }
                    }
                }
            }
            Experiment::Boutique => {
                let calibrate = among(backends, &["knative", "grpc"]);
                if s.users_factor.is_none() {
                    let point = s.calibration_warmup_s + s.calibration_window_s + RUN_OVERHEAD_S;
                    let points = s.calibration_max_points as f64 + if s.calibration_refine > 1.0 { 2.0 } else { 0.0 };
                    p.add(
                        "boutique",
                        format!("calibrate the user scale on {}", calibrate.join(" and ")),
                        calibrate.len() as f64 * points * point,
                    );
                }
                let run = s.boutique_warmup_s + s.boutique_s + RUN_OVERHEAD_S;
                for rep in 1..=s.headline_repeat {
                    for b in backends {
                        p.add("boutique", format!("{b}, scaled Knative users (like for like), repetition {rep}"), run);
                    }
                }
                for rep in 1..=s.other_repeat {
                    for b in among(backends, &["s-spright", "d-spright"]) {
                        p.add("boutique", format!("{b}, 5x the users (the paper's ratio), repetition {rep}"), run);
                    }
                }
            }
            Experiment::Motion | Experiment::Parking => {
                let Some(c) = chains.get(e) else { continue };
                let run = c.load.warmup_s + c.load.duration_s + RUN_OVERHEAD_S;
                for rep in 1..=s.other_repeat {
                    for b in among(backends, &["s-spright", "knative"]) {
                        p.add(
                            e.name(),
                            format!("{} on {b} ({:.0} s), repetition {rep}", c.name, c.load.duration_s),
                            run,
                        );
                    }
                }
            }
        }
    }
    p
}

/// Run the plan; returns the evaluation directory.
pub fn evaluate(o: &EvalOptions, stop: &Arc<AtomicBool>) -> Result<PathBuf> {
    let backends = o.on.dataplanes()?;
    let names: Vec<&'static str> = backends.iter().map(|b| b.name()).collect();
    let options: Vec<BackendOptions> = o.on.options(&backends)?;
    // Every chain is read and checked before anything runs, against every backend that will
    // deploy it, with its options (a combination refused for one chain fails here, not when
    // its step comes).
    let check = |chain: &Chain, which: &[&str]| -> Result<()> {
        for (b, opts) in backends.iter().zip(&options).filter(|(b, _)| which.contains(&b.name())) {
            b.check(chain, opts).with_context(|| format!("{} on chain {}", b.name(), chain.name))?;
        }
        Ok(())
    };
    let mut chains = BTreeMap::new();
    for e in &o.experiments {
        match e {
            Experiment::Sweep => {
                for c in &o.sweep.chains {
                    check(&workloads::load_chain(&o.on.chain_file(c))?, &names)?;
                }
            }
            Experiment::Boutique => {
                let c = workloads::load_chain(&o.on.chain_file("online-boutique"))?;
                check(&c, &names)?;
                chains.insert(*e, c);
            }
            Experiment::Motion | Experiment::Parking => {
                let c = iot_chain(o, *e)?;
                check(&c, &among(&names, &["s-spright", "knative"]))?;
                chains.insert(*e, c);
            }
        }
    }
    if o.experiments.contains(&Experiment::Boutique)
        && o.settings.users_factor.is_none()
        && among(&names, &["knative", "grpc"]).is_empty()
    {
        bail!("the boutique experiment calibrates its user scale on knative or grpc: run one of them, or give --users-factor");
    }
    if o.out.exists() {
        bail!("{} already exists; choose another --out", o.out.display());
    }
    std::fs::create_dir_all(&o.out).with_context(|| format!("create {}", o.out.display()))?;
    let env = crate::envinfo::collect();
    let mut meta = Meta {
        command_line: o.on.command_line.clone(),
        machine: env.machine(),
        cores: env.cores_online,
        experiments: o.experiments.clone(),
        backends: names.iter().map(|s| s.to_string()).collect(),
        backend_options: names.iter().zip(&options).map(|(b, o)| (b.to_string(), o.describe())).collect(),
        placement: o.placement.to_string(),
        loadgen_threads: o.on.loadgen_threads,
        settings: o.settings.clone(),
        users_factor: o.settings.users_factor,
        users_factor_source: o.settings.users_factor.map(|_| "given (--users-factor)".into()),
        knative_users: None,
        spright_users: None,
        boutique_functions: chains.get(&Experiment::Boutique).map_or(10, |c| c.functions.len()),
        reference: o.reference.clone(),
    };
    write_meta(&o.out, &meta)?;
    let plan = make_plan(o, &names, &chains);
    eprint!("{}", plan.render());
    let progress = Progress::new(plan);
    let ctx = Ctx {
        o,
        options: names.iter().copied().zip(options).collect(),
        stop,
        progress: &progress,
        index: std::cell::RefCell::new(index_writer(&o.out.join("runs.csv"))?),
    };
    for e in &o.experiments {
        match e {
            Experiment::Sweep => {
                sweep::sweep(&o.on, &o.sweep, &o.out.join("sweep"), stop, &progress)?;
            }
            Experiment::Boutique => boutique(&ctx, &chains[e], &names, &mut meta)?,
            Experiment::Motion | Experiment::Parking => {
                for rep in 1..=o.settings.other_repeat {
                    for b in among(&names, &["s-spright", "knative"]) {
                        let c = &chains[e];
                        progress.begin(&format!("{}: {} on {b}, repetition {rep}", e.name(), c.name));
                        // As the paper's Knative client did for parking: wake every function
                        // at the start and 20 s (compressed) before each burst.
                        let prewarm = (*e == Experiment::Parking && b == "knative").then_some(20.0);
                        let row = IndexRow {
                            experiment: e.name().into(),
                            series: "paper".into(),
                            backend: b.into(),
                            users: 0,
                            repetition: rep,
                            dir: format!("{}/{b}-r{rep}", e.name()),
                        };
                        ctx.run(c.clone(), b, row, prewarm)?;
                    }
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            progress.say("interrupted: summarizing what ran");
            break;
        }
    }
    progress.finish();
    drop(ctx);
    summarize(&o.out)?;
    Ok(o.out.clone())
}

/// `runs.csv`, its header written at once (an evaluation stopped before its first run still
/// leaves a readable index); the header is the first line of a serialized [`IndexRow`], so the
/// struct is its only definition.
fn index_writer(path: &Path) -> Result<csv::Writer<std::fs::File>> {
    let mut probe = csv::Writer::from_writer(Vec::new());
    probe.serialize(IndexRow::default())?;
    let text = String::from_utf8(probe.into_inner()?)?;
    let header = text.lines().next().unwrap_or_default();
    std::fs::write(path, format!("{header}\n")).context("create runs.csv")?;
    let file = std::fs::OpenOptions::new().append(true).open(path).context("open runs.csv")?;
    Ok(csv::WriterBuilder::new().has_headers(false).from_writer(file))
}

/// The machine a reference directory ran on, from its manifest (a sweep's `reproduce.json` or an
/// evaluation's `paper.json`).
fn machine_of(dir: &Path) -> String {
    ["reproduce.json", "paper.json"]
        .iter()
        .find_map(|f| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(f)).ok()?).ok()?;
            v.get("machine")?.as_str().map(str::to_string)
        })
        .unwrap_or_else(|| "a machine its directory does not name".into())
}

fn write_meta(out: &Path, meta: &Meta) -> Result<()> {
    std::fs::write(out.join("paper.json"), serde_json::to_string_pretty(meta)?).context("write paper.json")
}

pub fn read_meta(out: &Path) -> Result<Meta> {
    serde_json::from_slice(&std::fs::read(out.join("paper.json")).context("read paper.json")?)
        .context("parse paper.json")
}

/// Online Boutique: the user scale (calibrated unless given), then every backend at the scaled
/// Knative count, repetitions interleaved (each repetition runs every backend, the order
/// rotated one place a repetition), then SPRIGHT at five times that count.
fn boutique(ctx: &Ctx, base: &Chain, names: &[&'static str], meta: &mut Meta) -> Result<()> {
    let s = &ctx.o.settings;
    let factor = match s.users_factor {
        Some(f) => f,
        None => {
            ctx.progress.begin("boutique: calibrate the user scale");
            let Some(f) = calibrate(ctx, base, names)? else { return Ok(()) };
            meta.users_factor_source = Some(format!(
                "measured: the largest scale at which {} stayed unsaturated at the scaled 5,000 users \
                 (errors <= 1%, p99 <= 500 ms; ladder x2 from {} users, bisected to within x{})",
                among(names, &["knative", "grpc"]).join(" and "),
                s.calibration_start_users,
                s.calibration_refine
            ));
            f
        }
    };
    let knative_users = ((f64::from(PAPER_KNATIVE_USERS) * factor).round() as u32).max(1);
    let spright_users = knative_users * PAPER_SPRIGHT_MULTIPLE;
    meta.users_factor = Some(factor);
    meta.knative_users = Some(knative_users);
    meta.spright_users = Some(spright_users);
    write_meta(&ctx.o.out, meta)?;
    ctx.progress.say(&format!(
        "boutique: user scale {factor:.4}: {knative_users} users (the paper's 5,000), {spright_users} for SPRIGHT (its 25,000)"
    ));
    let mut order: Vec<&str> = names.to_vec();
    for rep in 1..=s.headline_repeat {
        for b in order.clone() {
            ctx.progress.begin(&format!("boutique: {b}, {knative_users} users (like for like), repetition {rep}"));
            let c = boutique_chain(base, knative_users, s.boutique_s, s.boutique_warmup_s)?;
            let row = row("like-for-like", b, knative_users, rep);
            if ctx.run(c, b, row, None)?.is_none() {
                return Ok(());
            }
        }
        order.rotate_left(1);
    }
    for rep in 1..=s.other_repeat {
        for b in among(names, &["s-spright", "d-spright"]) {
            ctx.progress.begin(&format!("boutique: {b}, {spright_users} users (the paper's ratio), repetition {rep}"));
            let c = boutique_chain(base, spright_users, s.boutique_s, s.boutique_warmup_s)?;
            if ctx.run(c, b, row("paper-users", b, spright_users, rep), None)?.is_none() {
                return Ok(());
            }
        }
    }
    Ok(())
}

fn row(series: &str, backend: &str, users: u32, rep: usize) -> IndexRow {
    IndexRow {
        experiment: "boutique".into(),
        series: series.into(),
        backend: backend.into(),
        users,
        repetition: rep,
        dir: format!("boutique/{series}-{backend}-{users}u-r{rep}"),
    }
}

/// The largest user scale at which Knative and gRPC (those run) both stay unsaturated at the
/// scaled 5,000 users; `None` when interrupted.
fn calibrate(ctx: &Ctx, base: &Chain, names: &[&'static str]) -> Result<Option<f64>> {
    let s = &ctx.o.settings;
    let start = s.calibration_start_users.min(PAPER_KNATIVE_USERS);
    // The ladder stops at the paper's own 5,000.
    let doublings = (f64::from(PAPER_KNATIVE_USERS) / f64::from(start)).log2().floor() as usize + 1;
    let ramp = Ramp {
        start: f64::from(start),
        step: 2.0,
        max_points: s.calibration_max_points.min(doublings),
        refine: s.calibration_refine,
    };
    let mut best = u32::MAX;
    for b in among(names, &["knative", "grpc"]) {
        let mut seen: Vec<(u32, Summary)> = Vec::new();
        let measure = |users: u32, seen: &mut Vec<(u32, Summary)>| -> Result<Option<Summary>> {
            ctx.progress.say(&format!("    calibration: {b} with {users} users ..."));
            let c = boutique_chain(base, users, s.calibration_window_s, s.calibration_warmup_s)?;
            let mut r = row("calibration", b, users, 1);
            r.dir = format!("boutique/calibration/{b}-{users}u");
            let got = ctx.run(c, b, r, None)?;
            if let Some(sum) = &got {
                seen.push((users, sum.clone()));
            }
            Ok(got)
        };
        sweep::ramp(&ramp, |users| measure(users as u32, &mut seen))?;
        // A full ladder that never saturated ends below the paper's own 5,000: try that too.
        let top = seen.iter().map(|(u, _)| *u).max().unwrap_or(0);
        if !ctx.stop.load(Ordering::Relaxed)
            && ramp.max_points == doublings
            && top < PAPER_KNATIVE_USERS
            && seen.iter().all(|(_, s)| !sweep::saturated(s))
        {
            measure(PAPER_KNATIVE_USERS, &mut seen)?;
        }
        if ctx.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let ok = seen.iter().filter(|(_, s)| !sweep::saturated(s)).map(|(u, _)| *u).max();
        match ok {
            Some(u) => best = best.min(u),
            None => bail!(
                "boutique calibration: {b} saturated already at {start} users (the smallest point); \
                 give a smaller scale with --users-factor"
            ),
        }
    }
    Ok(Some(f64::from(best) / f64::from(PAPER_KNATIVE_USERS)))
}

/// Redo the analysis and every figure of an evaluation directory from its files alone
/// (`spright-bench summarize DIR`): the sweep's summary, `aggregate.csv`, `claims.{csv,md}`,
/// the figures and `summary.md`. Figures that cannot be drawn are a warning, never a lost run.
pub fn summarize(out: &Path) -> Result<()> {
    let meta = read_meta(out)?;
    if out.join("sweep/comparison.csv").is_file() {
        sweep::summarize(&out.join("sweep"))?;
    }
    let analysis = spright_analysis::analyze(&spright_analysis::Inputs {
        dir: out.to_path_buf(),
        cores: meta.cores,
        boutique_functions: meta.boutique_functions,
        // A relative reference is looked up from the working directory, then from the
        // evaluation's own (a committed evaluation may carry its reference beside it).
        reference: meta.reference.as_ref().map(|r| {
            let dir = match r.is_relative() && !r.exists() {
                true => out.join(r),
                false => r.clone(),
            };
            let reference = spright_analysis::Reference { machine: machine_of(&dir), dir };
            if !reference.found() {
                tracing::warn!(
                    "reference run {} not found (looked in the working directory and in {}): claims this machine \
                     cannot show will not cite it; run from the repository's root or pass --reference",
                    r.display(),
                    out.display()
                );
            }
            reference
        }),
        command: meta.command_line.join(" "),
    })?;
    let figures = match figures::draw_all(out, &meta) {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(
                "figures not drawn ({}); redraw with `spright-bench summarize {}`",
                crate::error_report(e.as_ref()),
                out.display()
            );
            Vec::new()
        }
    };
    std::fs::write(out.join("summary.md"), render_summary(&meta, &analysis, &figures)).context("write summary.md")
}

fn render_summary(meta: &Meta, a: &spright_analysis::Analysis, figures: &[String]) -> String {
    use std::fmt::Write as _;
    let mut md = String::new();
    let _ = writeln!(md, "# spright-bench reproduce: the paper's evaluation\n");
    let _ = writeln!(md, "Command: `{}`\n", meta.command_line.join(" "));
    let _ = writeln!(md, "Machine: {}.\n", meta.machine);
    let _ = writeln!(
        md,
        "Plan: {} ({:?} length); placement `{}`; {} load generator thread(s). Backends: {}.\n",
        meta.experiments.iter().map(|e| e.name()).collect::<Vec<_>>().join(", "),
        meta.settings.length,
        meta.placement,
        meta.loadgen_threads,
        meta.backends
            .iter()
            .map(|b| format!("`{b}` ({})", meta.backend_options.get(b).map_or("", |s| s.as_str())))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let (Some(f), Some(k), Some(sp)) = (meta.users_factor, meta.knative_users, meta.spright_users) {
        let _ = writeln!(
            md,
            "Online Boutique users: scale {f:.4} of the paper's ({}): {k} closed-loop users stand for its 5,000 (Knative, gRPC; \
             every backend runs at this count, like for like) and {sp} for its 25,000 (SPRIGHT, the paper's ratio). \
             Think time 1-10 s; {} s measured after {} s warm-up; {} repetition(s) like for like, backends interleaved.\n",
            meta.users_factor_source.as_deref().unwrap_or("given"),
            meta.settings.boutique_s,
            meta.settings.boutique_warmup_s,
            meta.settings.headline_repeat
        );
    }
    let _ = writeln!(md, "## Claims\n\n{}", a.claims_md);
    let _ = writeln!(md, "## Runs, aggregated over repetitions\n\n{}", a.aggregate_md);
    if !figures.is_empty() {
        let _ = writeln!(md, "## Figures\n");
        for f in figures {
            let _ = writeln!(md, "- `{f}.png` / `.svg`");
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "Every run's own directory is listed in `runs.csv`; the sweep is in `sweep/summary.md`. \
         Redo all of this from the files with `spright-bench summarize DIR`."
    );
    md
}
