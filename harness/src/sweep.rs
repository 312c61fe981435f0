//! The synthetic sweep of `make reproduce` (its `sweep` experiment): every registered backend on
//! the synthetic chains, at open-loop rates that double from light load until the backend
//! saturates, side by side in one comparison directory (`comparison.csv`, `summary.md`).
//!
//! A point counts as saturated when the achieved throughput falls below 90% of the offered
//! rate, more than 1% of requests fail, or p99 exceeds 500 ms (the client-side queue is
//! growing). The ramp stops at the first saturated point: beyond it, an open-loop generator
//! only measures its own queue.
//!
//! An open-loop point's throughput is also bounded by the load generator's connections: one
//! request at a time on each, so at most the pool over the mean latency. From the client, a
//! saturated backend and a saturated pool look the same, so the sweep checks the pool where it
//! may bind ([`ramp_checking_pool`]): a saturated point whose pool was busy is measured again
//! with four times the connections, and only if that saturates too is the ceiling the
//! backend's; if it holds, the first pool is measured once more, to tell its limit from a stall
//! that did not repeat. Every point stays in `comparison.csv` (its `connections` column tells
//! them apart).
//!
//! New backends join by being registered in [`crate::registry`]; nothing here names one.

use crate::evaluation::plan::Progress;
use crate::figures::{self, Panel, Series};
use crate::registry;
use crate::results::{read_summaries, write_summaries, Summary};
use crate::run::run;
use crate::testbed::Testbed;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use workloads::LoadOverrides;

/// The sweep's own parameters; what it runs on is a [`Testbed`].
#[derive(Clone)]
pub struct SweepOptions {
    pub chains: Vec<String>,
    pub start_rate: f64,
    /// Each further point's rate is the last one's times this (2: doubling).
    pub step: f64,
    pub max_points: usize,
    /// Bisect the capacity to within this factor after the ladder (see [`Ramp`]).
    pub refine: f64,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// The load generator's connections at the first point (`--connections`); `None`: each
    /// chain's.
    pub connections: Option<u32>,
    /// Check whether the pool binds where a point saturates ([`ramp_checking_pool`]); off, every
    /// point has the first point's pool (`--no-pool-check`).
    pub pool_check: bool,
    /// Placement policies to run everything under, one sweep each (`--placement`).
    pub placements: Vec<dataplane_api::Placement>,
}

impl SweepOptions {
    /// The placement policies to run under: those given, else `none`.
    fn policies(&self) -> Vec<dataplane_api::Placement> {
        match self.placements.is_empty() {
            true => vec![dataplane_api::Placement::default()],
            false => self.placements.clone(),
        }
    }
}

pub const DEFAULT_CHAINS: &[&str] = &["synthetic-2", "synthetic-5", "call-tree"];

/// The saturation rule ([`spright_analysis::saturated`]): achieved below 90% of offered, more
/// than 1% of requests failed, or p99 above 500 ms. Each bound itself is not saturated.
pub fn saturated(s: &Summary) -> bool {
    spright_analysis::saturated(s.offered_rps.unwrap_or(0.0), s.achieved_rps, s.ok as f64, s.errors as f64, s.p99_us)
}

/// How the offered rate moves: a ladder from `start`, times `step` a point, at most
/// `max_points` points, up to and including the first saturated one (beyond it an open-loop
/// generator only measures its own queue); then bisection between the last unsaturated and the
/// first saturated rate until they are within a factor `refine` (the ladder alone quantises
/// every capacity to a power of `step`); `refine <= 1` skips it.
#[derive(Debug, Clone, Copy)]
pub struct Ramp {
    pub start: f64,
    pub step: f64,
    pub max_points: usize,
    pub refine: f64,
}

/// A saturated point where the load generator used this much of its core may be the
/// generator's limit, not the backend's.
const GENERATOR_BOUND_PCT: f64 = 85.0;

/// Most bisection points after the ladder (2x down to 1.1x takes 3).
const MAX_REFINE_POINTS: usize = 8;

/// Run the ramp `r` of one backend and chain; points in order of offered rate. `None` from
/// `measure` (interrupted) ends it.
pub fn ramp(r: &Ramp, mut measure: impl FnMut(f64) -> Result<Option<Summary>>) -> Result<Vec<Summary>> {
    let mut out = Vec::new();
    let mut rate = r.start;
    let (mut lo, mut hi) = (None, None);
    for _ in 0..r.max_points {
        let Some(s) = measure(rate)? else { return Ok(out) };
        let sat = saturated(&s);
        out.push(s);
        if sat {
            hi = Some(rate);
            break;
        }
        lo = Some(rate);
        rate = (rate * r.step).round();
    }
    if let (Some(mut lo), Some(mut hi)) = (lo, hi) {
        for _ in 0..MAX_REFINE_POINTS {
            if hi / lo <= r.refine.max(1.0) || r.refine <= 1.0 {
                break;
            }
            let mid = (lo * hi).sqrt().round();
            if mid <= lo || mid >= hi {
                break;
            }
            let Some(s) = measure(mid)? else { break };
            if saturated(&s) {
                hi = mid;
            } else {
                lo = mid;
            }
            out.push(s);
        }
    }
    out.sort_by(|a, b| a.offered_rps.unwrap_or(0.0).total_cmp(&b.offered_rps.unwrap_or(0.0)));
    Ok(out)
}

/// How a ramp checks the load generator's pool ([`ramp_checking_pool`]).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct PoolCheck {
    /// The pool of a check's second measurement is the first's times this.
    pub growth: u32,
    /// No check grows the pool beyond this many connections.
    pub max: u32,
}

impl PoolCheck {
    /// Four times the pool, up to 1,024 connections: 64 -> 256 -> 1,024, enough for 100,000
    /// req/s at 10 ms of mean latency.
    pub const DEFAULT: PoolCheck = PoolCheck { growth: 4, max: 1024 };

    /// [`Self::DEFAULT`], never growing the pool beyond what the chain's users allow `threads`
    /// generator threads ([`crate::loadgen::most_connections`]), nor beyond the requests the
    /// backend admits at once (`admits`, [`dataplane_api::Dataplane::admits_at_once`]): past
    /// that, more connections only turn a wait in the client into a refusal, which counts as
    /// saturation. (D-SPRIGHT on 2 cores, synthetic-5's 512 slots, 9,500 req/s offered: 2.8%
    /// refused on 1,024 connections, none on 512.) Also says what capped it, if anything did.
    fn for_chain(chain: &workloads::Chain, threads: usize, admits: Option<u32>) -> (PoolCheck, Option<&'static str>) {
        let users = crate::loadgen::most_connections(chain.users.as_ref(), threads)
            .map(|u| u32::try_from(u).unwrap_or(u32::MAX));
        let (mut check, mut why) = (Self::DEFAULT, None);
        for (cap, what) in [(users, "its users allow"), (admits, "the backend's pool slots admit at once")] {
            if let Some(cap) = cap.filter(|&c| c < check.max) {
                (check.max, why) = (cap, Some(what));
            }
        }
        (check, why)
    }
}

/// A chain whose pool checks stop below [`PoolCheck::DEFAULT`]'s most connections, on some
/// backends, and why ([`PoolCheck::for_chain`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PoolCap {
    pub chain: String,
    pub backends: Vec<String>,
    pub connections: u32,
    pub why: String,
}

impl PoolCap {
    /// Add `backend` to the cap of `chain` at `connections` for `why`, once.
    fn note(caps: &mut Vec<PoolCap>, chain: &str, backend: &str, connections: u32, why: &str) {
        match caps.iter_mut().find(|c| c.chain == chain && c.connections == connections && c.why == why) {
            Some(c) if c.backends.iter().any(|b| b == backend) => {}
            Some(c) => c.backends.push(backend.into()),
            None => {
                caps.push(PoolCap { chain: chain.into(), backends: vec![backend.into()], connections, why: why.into() })
            }
        }
    }
}

/// Whether a point's requests kept at least half its connections busy on average: by Little's
/// law, throughput x mean latency requests were in the system at once (the latency counts
/// from the intended send time, so those waiting in the client for a connection count too).
fn pool_was_busy(s: &Summary) -> bool {
    s.connections > 0 && s.achieved_rps * s.mean_us / 1e6 >= 0.5 * s.connections as f64
}

/// [`ramp`], with each point measured on a pool of connections (`measure(rate, connections)`)
/// that starts at `start` and is checked where it may bind: a saturated point whose pool was
/// busy ([`pool_was_busy`]) is measured again at the same rate with `check.growth` times the
/// connections (at most `check.max`), and the ramp goes on from that measurement with that
/// pool. If the larger pool saturates too, the ceiling is the backend's and no later point is
/// checked. If not, the first pool is measured once more at the same rate (A-B-A: on a noisy
/// machine a point can saturate on a stall that does not repeat), and later saturated points
/// are checked again. The points the checks replaced come back too, each before its
/// replacement ([`pool_checks`] reads them back).
pub fn ramp_checking_pool(
    r: &Ramp,
    start: u32,
    check: Option<PoolCheck>,
    mut measure: impl FnMut(f64, u32) -> Result<Option<Summary>>,
) -> Result<Vec<Summary>> {
    let mut pool = start;
    let mut confirmed = false;
    let mut replaced = Vec::new();
    let mut points = ramp(r, |rate| {
        let Some(s) = measure(rate, pool)? else { return Ok(None) };
        let grown = match check {
            Some(c) if !confirmed && saturated(&s) && pool_was_busy(&s) => pool.saturating_mul(c.growth).min(c.max),
            _ => pool,
        };
        if grown <= pool {
            return Ok(Some(s));
        }
        // Interrupted during the check: keep what was measured.
        let Some(again) = measure(rate, grown)? else { return Ok(Some(s)) };
        let first = std::mem::replace(&mut pool, grown);
        confirmed = saturated(&again);
        replaced.push(s);
        if !confirmed {
            replaced.extend(measure(rate, first)?);
        }
        Ok(Some(again))
    })?;
    points.extend(replaced);
    points.sort_by(by_rate_then_pool);
    Ok(points)
}

/// Run the sweep `o` on `on` into the new directory `out`; returns it.
pub fn sweep(
    on: &Testbed,
    o: &SweepOptions,
    out: &Path,
    stop: &Arc<AtomicBool>,
    progress: &Progress,
) -> Result<PathBuf> {
    let backends = on.dataplanes()?;
    let options = on.options(&backends)?;
    let mut chains = Vec::new();
    for name in &o.chains {
        chains.push(workloads::load_chain(&on.chain_file(name))?);
    }
    if out.exists() {
        anyhow::bail!("{} already exists; choose another --out", out.display());
    }
    let points_dir = out.join("points");
    std::fs::create_dir_all(&points_dir).with_context(|| format!("create {}", points_dir.display()))?;
    let mut all: Vec<Summary> = Vec::new();
    let mut caps: Vec<PoolCap> = Vec::new();
    let placements = o.policies();
    for (placement, chain) in placements.iter().flat_map(|p| chains.iter().map(move |c| (p, c))) {
        // Point directories say the placement when there are several.
        let tag = match placements.len() {
            1 => String::new(),
            _ => format!("-{}", placement.to_string().replace(|c: char| !c.is_ascii_alphanumeric(), "_")),
        };
        for (dataplane, backend_options) in backends.iter().zip(&options) {
            let backend = dataplane.name();
            let pool_check = match o.pool_check {
                true => {
                    let (check, why) = PoolCheck::for_chain(chain, on.loadgen_threads, dataplane.admits_at_once(chain));
                    if let Some(why) = why {
                        PoolCap::note(&mut caps, &chain.name, backend, check.max, why);
                    }
                    Some(check)
                }
                false => None,
            };
            progress.begin(&format!("sweep: {} on {backend}, placement {placement}", chain.name));
            let r = Ramp { start: o.start_rate, step: o.step, max_points: o.max_points, refine: o.refine };
            let start = o.connections.unwrap_or(chain.load.connections);
            let points = ramp_checking_pool(&r, start, pool_check, |rate, connections| {
                if stop.load(Ordering::Relaxed) {
                    return Ok(None);
                }
                // A checked pool is named in the progress line and the point's directory.
                let (said, dir) = match connections == start {
                    true => (String::new(), String::new()),
                    false => (format!(", {connections} connections"), format!("-c{connections}")),
                };
                progress.say(&format!("    {} on {backend} at {rate} req/s{said} ...", chain.name));
                let mut c = chain.clone();
                LoadOverrides {
                    pattern: Some("open".into()),
                    rate: Some(rate),
                    duration_s: Some(o.duration_s),
                    warmup_s: Some(o.warmup_s),
                    connections: Some(connections),
                    ..Default::default()
                }
                .apply(&mut c.load)?;
                let mut out = points_dir.join(format!("{}-{}-{}{dir}{tag}", chain.name, backend, rate as u64));
                if out.exists() {
                    // A pool check's repeat of its first point.
                    out.as_mut_os_string().push("-again");
                }
                let opts = on.run_options(backend, backend_options.clone(), c, out, placement.clone());
                let s = run(&opts, stop)?.summary;
                progress.say(&format!(
                    "    achieved {:.0} req/s, p50 {:.0} us, p99 {:.0} us, {} errors, {:.3} CPU-s/1k req",
                    s.achieved_rps, s.p50_us, s.p99_us, s.errors, s.sut_cpu_s_per_1k
                ));
                Ok(Some(s))
            })?;
            all.extend(points);
        }
    }
    let described = backends.iter().zip(&options).map(|(b, o)| (b.name().to_string(), o.describe())).collect();
    write_comparison(out, &all, on, o, caps, described)?;
    Ok(out.to_path_buf())
}

/// What `summary.md` says about how a comparison was made (`reproduce.json`).
fn two() -> f64 {
    2.0
}

fn one() -> f64 {
    1.0
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    command_line: Vec<String>,
    machine: String,
    duration_s: f64,
    warmup_s: f64,
    start_rate: f64,
    /// Rate factor between points (older runs: doubling).
    #[serde(default = "two")]
    step: f64,
    /// Bisection factor after the ladder (older runs: none, 1).
    #[serde(default = "one")]
    refine: f64,
    /// Each backend's options (`--backend-opt`), as `k=v, k=v`.
    #[serde(default)]
    backend_options: BTreeMap<String, String>,
    /// Cores the load generator's threads ran on, per placement policy (`--loadgen-threads`,
    /// at most the CPUs the policy gives the generator); older runs: one thread, one core.
    #[serde(default)]
    loadgen_cores: BTreeMap<String, usize>,
    /// How saturated points' pools were checked (older runs: not at all).
    #[serde(default)]
    pool_check: Option<PoolCheck>,
    /// Chains whose checks stop below `pool_check.max` on some backends, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pool_caps: Vec<PoolCap>,
}

fn write_comparison(
    out: &Path,
    all: &[Summary],
    on: &Testbed,
    o: &SweepOptions,
    pool_caps: Vec<PoolCap>,
    backend_options: BTreeMap<String, String>,
) -> Result<()> {
    write_summaries(&out.join("comparison.csv"), all)?;
    let meta = Meta {
        command_line: on.command_line.clone(),
        machine: crate::envinfo::collect().machine(),
        duration_s: o.duration_s,
        warmup_s: o.warmup_s,
        start_rate: o.start_rate,
        step: o.step,
        refine: o.refine,
        backend_options,
        loadgen_cores: o
            .policies()
            .iter()
            .map(|p| {
                let cores = p.clone().with_loadgen_threads(on.loadgen_threads).loadgen();
                (p.to_string(), cores.map_or(on.loadgen_threads, |c| c.len().min(on.loadgen_threads)))
            })
            .collect(),
        pool_check: o.pool_check.then_some(PoolCheck::DEFAULT),
        pool_caps,
    };
    std::fs::write(out.join("reproduce.json"), serde_json::to_string_pretty(&meta)?).context("write reproduce.json")?;
    summarize(out)
}

/// Rewrite `summary.md` and redraw the figures of a comparison directory from its
/// `comparison.csv` and `reproduce.json` alone (`spright-bench summarize DIR`). The figures come
/// last: failing to draw them loses nothing, and is reported as a warning.
pub fn summarize(out: &Path) -> Result<()> {
    write_summary(out)?;
    if let Err(e) = draw_comparison(out) {
        tracing::warn!(
            "figures not drawn ({}); redraw with `spright-bench summarize {}`",
            crate::error_report(e.as_ref()),
            out.display()
        );
    }
    Ok(())
}

fn write_summary(out: &Path) -> Result<()> {
    let meta: Meta = serde_json::from_slice(&std::fs::read(out.join("reproduce.json")).context("read reproduce.json")?)
        .context("parse reproduce.json")?;
    let all = read_summaries(&out.join("comparison.csv"))?;
    let mut md = String::new();
    writeln!(md, "# spright-bench reproduce\n")?;
    writeln!(md, "Command: `{}`", meta.command_line.join(" "))?;
    writeln!(md, "Machine: {}.\n", meta.machine)?;
    writeln!(
        md,
        "Open-loop Poisson load, {} s measured per point after {} s warm-up; latency from each request's intended send time. \
         Rates grow by x{} from {} req/s until a backend saturates (achieved < 90% of offered, > 1% errors, or p99 > 500 ms){}. \
         Placement (`--placement`): {}; each point's manifest records every process's CPUs, and backends are compared only under the same placement.\n",
        meta.duration_s,
        meta.warmup_s,
        meta.step,
        meta.start_rate,
        match meta.refine > 1.0 {
            true => format!(", then bisect between the last unsaturated and the first saturated rate until they are within x{}", meta.refine),
            false => String::new(),
        },
        placements(&all).iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
    )?;
    let mut pools: Vec<u64> = all.iter().map(|s| s.connections).filter(|&c| c > 0).collect();
    pools.sort();
    pools.dedup();
    if !pools.is_empty() {
        writeln!(
            md,
            "The load generator had {} connections (`--connections`), one request at a time on each: a request due while all are busy waits for one, and the wait counts as latency. A point's throughput is at most the connections over the mean time a request holds one, so a backend's ceiling can be the pool's. {}\n",
            pools.iter().map(u64::to_string).collect::<Vec<_>>().join(" or "),
            match meta.pool_check {
                Some(c) => format!("Where a point saturated with at least half its connections busy (rate x mean latency), it was measured again with {}x the connections (at most {}{}), and the ramp went on with that pool; where that held, the first pool was measured once more (a limit of the pool saturates again, a stall need not). Each check is listed under its chain.", c.growth, c.max,
                    meta.pool_caps.iter().map(|c| format!("; {} for {} on {}, as {}", c.connections, c.chain, c.backends.join(", "), c.why)).collect::<String>()),
                None => "This sweep did not check its pool (`--no-pool-check`, or a run before the check): rerunning with more connections tells.".into(),
            }
        )?;
    }
    let several = placements(&all).len() > 1;
    let full = &all[..];
    let mut names: Vec<&str> = all.iter().map(|s| s.backend.as_str()).collect();
    names.sort();
    names.dedup();
    writeln!(md, "Backends:\n")?;
    for n in names {
        let label = registry::get(n).map(|b| b.label()).unwrap_or("not registered in this build");
        match meta.backend_options.get(n) {
            Some(opts) => writeln!(md, "- `{n}`: {label} (options: {opts})")?,
            None => writeln!(md, "- `{n}`: {label}")?,
        }
    }
    writeln!(md)?;
    let mut groups: Vec<(&str, &str)> = full.iter().map(|s| (s.chain.as_str(), s.placement.as_str())).collect();
    groups.dedup();
    for (chain, placement) in groups {
        let group: Vec<Summary> =
            full.iter().filter(|s| s.chain == chain && s.placement == placement).cloned().collect();
        let all = &group[..];
        match several {
            true => writeln!(md, "## {chain}, placement `{placement}`\n")?,
            false => writeln!(md, "## {chain}\n")?,
        }
        writeln!(md, "| backend | offered req/s | connections | achieved req/s | p50 us | p99 us | errors | SUT CPU-s per 1k req | loadgen %CPU (all threads) |")?;
        writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for s in all.iter().filter(|s| s.chain == chain) {
            writeln!(
                md,
                "| {} | {:.0} | {} | {:.0} | {:.0} | {:.0} | {} | {} | {:.0} |",
                s.backend,
                s.offered_rps.unwrap_or(0.0),
                match s.connections {
                    0 => "not recorded".to_string(),
                    c => c.to_string(),
                },
                s.achieved_rps,
                s.p50_us,
                s.p99_us,
                s.errors,
                cpu(s.sut_cpu_s_per_1k),
                s.loadgen_cpu_pct
            )?;
        }
        writeln!(md, "\nHighest throughput reached without saturating, per backend:\n")?;
        let mut backends: Vec<&str> = all.iter().filter(|s| s.chain == chain).map(|s| s.backend.as_str()).collect();
        backends.dedup();
        let standing = standing(all);
        let best = |b: &str| {
            standing
                .iter()
                .filter(|s| s.chain == chain && s.backend == b && !saturated(s))
                .map(|s| s.achieved_rps)
                .fold(0.0, f64::max)
        };
        for b in &backends {
            let peak =
                all.iter().filter(|s| s.chain == chain && s.backend == *b).map(|s| s.achieved_rps).fold(0.0, f64::max);
            // A generator at its limit saturates too: say so rather than blame the backend. Its
            // %CPU is summed over its threads, which share the cores the placement gives it.
            let cores = meta.loadgen_cores.get(placement).copied().unwrap_or(1).max(1);
            let generator = all
                .iter()
                .filter(|s| s.chain == chain && s.backend == *b && saturated(s))
                .map(|s| s.loadgen_cpu_pct / cores as f64)
                .fold(0.0, f64::max);
            let note = match (generator >= GENERATOR_BOUND_PCT, cores) {
                (false, _) => String::new(),
                (true, 1) => format!(" (the load generator used {generator:.0}% of its core where it saturated: the ceiling may be the generator's)"),
                (true, n) => format!(" (the load generator used {generator:.0}% of each of its {n} cores where it saturated: the ceiling may be the generator's)"),
            };
            // A point cut short by Ctrl-C or a time limit counts as measured, but is no ceiling.
            let cut =
                all.iter().find(|s| s.chain == chain && s.backend == *b && s.interrupted).map_or(String::new(), |s| {
                    format!(
                        " (interrupted at {:.0} req/s offered: that point's numbers are partial)",
                        s.offered_rps.unwrap_or(0.0)
                    )
                });
            writeln!(md, "- {b}: {:.0} req/s unsaturated; peak achieved {peak:.0} req/s{note}{cut}", best(b))?;
            for Checked { first, again, repeat } in
                pool_checks(all.iter().filter(|s| s.chain == chain && s.backend == *b))
            {
                let held = format!("reached {:.0} req/s unsaturated", again.achieved_rps);
                let verdict = match (saturated(again), repeat) {
                    (true, _) => "saturated too: the ceiling is the backend's".to_string(),
                    (false, Some(r)) if saturated(r) => format!(
                        "{held}, and {} again saturated ({:.0} req/s achieved): the limit was the pool's",
                        r.connections, r.achieved_rps
                    ),
                    (false, Some(r)) => format!(
                        "{held}, but {} again reached {:.0} req/s unsaturated: the first point met a stall, not the pool's limit",
                        r.connections, r.achieved_rps
                    ),
                    (false, None) => format!("{held}: the limit was the pool's, or a stall that did not repeat"),
                };
                writeln!(
                    md,
                    "  - pool check at {:.0} req/s offered: {} connections saturated ({:.0} req/s achieved); {} connections {verdict}",
                    first.offered_rps.unwrap_or(0.0),
                    first.connections,
                    first.achieved_rps,
                    again.connections,
                )?;
            }
        }
        if backends.len() > 1 {
            side_by_side(&mut md, &standing, chain, &backends, best(backends[0]), &best)?;
        }
        writeln!(md)?;
    }
    writeln!(md, "Figures: `latency_vs_throughput.png`/`.svg`, `cpu_per_1k.png`/`.svg`; raw data: `comparison.csv` and `points/*/`.")?;
    std::fs::write(out.join("summary.md"), md).context("write summary.md")?;
    Ok(())
}

/// Points in order of offered rate; at one rate, a pool check's first point before its second.
fn by_rate_then_pool(a: &Summary, b: &Summary) -> std::cmp::Ordering {
    a.offered_rps.unwrap_or(0.0).total_cmp(&b.offered_rps.unwrap_or(0.0)).then(a.connections.cmp(&b.connections))
}

/// A pool check among one backend's points ([`ramp_checking_pool`]).
struct Checked<'a> {
    /// The saturated point on the first pool.
    first: &'a Summary,
    /// The same rate on the larger pool.
    again: &'a Summary,
    /// The first pool once more, where the larger one held.
    repeat: Option<&'a Summary>,
}

/// The pool checks among one backend's points: at a rate measured on more than one pool, the
/// first point on each pool against the first on the next larger one.
fn pool_checks<'a>(points: impl Iterator<Item = &'a Summary>) -> Vec<Checked<'a>> {
    let mut by_rate: Vec<&Summary> = points.collect();
    by_rate.sort_by(|a, b| by_rate_then_pool(a, b));
    let mut out = Vec::new();
    for (i, p) in by_rate.iter().enumerate() {
        let same = |q: &&Summary| q.offered_rps == p.offered_rps;
        let (before, after) = (&by_rate[..i], &by_rate[i + 1..]);
        if before.last().is_some_and(|q| same(q) && q.connections == p.connections) {
            continue; // not the first on its pool
        }
        let Some(again) = after.iter().take_while(|q| same(q)).find(|q| q.connections > p.connections) else {
            continue;
        };
        let repeat = after.first().filter(|q| same(q) && q.connections == p.connections).copied();
        out.push(Checked { first: p, again, repeat });
    }
    out
}

/// The placement policies of a comparison's rows, in order of first appearance.
fn placements(all: &[Summary]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in all {
        if !out.contains(&s.placement.as_str()) {
            out.push(&s.placement);
        }
    }
    out
}

/// CPU-s per 1k requests for a table: three decimals, or "not measured" (an empty CSV cell).
fn cpu(x: f64) -> String {
    if x.is_nan() {
        "not measured".into()
    } else {
        format!("{x:.3}")
    }
}

/// Each backend against the first one, at the offered rates both ran unsaturated, among the
/// points that stand ([`standing`]).
fn side_by_side(
    md: &mut String,
    standing: &[&Summary],
    chain: &str,
    backends: &[&str],
    base_best: f64,
    best: &dyn Fn(&str) -> f64,
) -> std::fmt::Result {
    let base = backends[0];
    let point = |b: &str, rate: f64| {
        standing.iter().find(|s| s.chain == chain && s.backend == b && s.offered_rps == Some(rate) && !saturated(s))
    };
    for other in &backends[1..] {
        writeln!(md, "\n{other} vs {base}, side by side in this run:\n")?;
        if base_best > 0.0 {
            writeln!(md, "- highest unsaturated throughput: {:.2}x", best(other) / base_best)?;
        }
        writeln!(md, "\n| offered req/s | p50 {other} / {base} (us) | ratio | p99 {other} / {base} (us) | ratio | CPU-s per 1k {other} / {base} | ratio |")?;
        writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|")?;
        let mut rates: Vec<f64> = standing.iter().filter(|s| s.chain == chain).filter_map(|s| s.offered_rps).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        for rate in rates {
            let (Some(o), Some(b)) = (point(other, rate), point(base, rate)) else { continue };
            let r = |x: f64, y: f64| if y > 0.0 && x.is_finite() { format!("{:.2}x", x / y) } else { "-".into() };
            writeln!(
                md,
                "| {rate:.0} | {:.0} / {:.0} | {} | {:.0} / {:.0} | {} | {} / {} | {} |",
                o.p50_us,
                b.p50_us,
                r(o.p50_us, b.p50_us),
                o.p99_us,
                b.p99_us,
                r(o.p99_us, b.p99_us),
                cpu(o.sut_cpu_s_per_1k),
                cpu(b.sut_cpu_s_per_1k),
                r(o.sut_cpu_s_per_1k, b.sut_cpu_s_per_1k)
            )?;
        }
    }
    Ok(())
}

/// The points that stand for their backend ([`spright_analysis::stands`]: at a rate measured
/// on several pools, the largest pool's).
fn standing(all: &[Summary]) -> Vec<&Summary> {
    let keys: Vec<_> = all
        .iter()
        .map(|s| ((&s.chain, &s.placement, &s.backend, s.offered_rps.map(f64::to_bits)), s.connections))
        .collect();
    all.iter().zip(spright_analysis::stands(&keys)).filter_map(|(s, stands)| stands.then_some(s)).collect()
}

/// A curve is the backend's: only the rows of `comparison.csv` that stand
/// ([`spright_analysis::stands`]).
fn drop_replaced(rows: &mut Vec<BTreeMap<String, String>>) {
    let keys: Vec<_> = rows
        .iter()
        .map(|r| {
            let key = ["chain", "placement", "backend", "offered_rps"].map(|k| r.get(k).cloned().unwrap_or_default());
            (key, r.get("connections").and_then(|c| c.parse::<u64>().ok()).unwrap_or(0))
        })
        .collect();
    let mut standing = spright_analysis::stands(&keys).into_iter();
    rows.retain(|_| standing.next().unwrap_or(true));
}

/// Figures from `comparison.csv` alone.
pub fn draw_comparison(out: &Path) -> Result<()> {
    // Titles name the machine (its core count) when reproduce.json says it.
    let machine = std::fs::read(out.join("reproduce.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Meta>(&b).ok())
        .and_then(|m| m.machine.split_once(" cores)").and_then(|(a, _)| a.rsplit_once('(')).map(|(_, n)| n.to_string()))
        .map_or(String::new(), |n| format!(", {n} cores"));
    let mut rows = figures::read_csv(&out.join("comparison.csv"))?;
    drop_replaced(&mut rows);
    // With several placements, each chain under each is a panel of its own.
    let mut policies: Vec<String> = rows.iter().filter_map(|r| r.get("placement").cloned()).collect();
    policies.sort();
    policies.dedup();
    if policies.len() > 1 {
        for r in &mut rows {
            let chain = format!("{} @ {}", r["chain"], r["placement"]);
            r.insert("chain".into(), chain);
        }
    }
    let mut keys: Vec<(String, String)> = rows.iter().map(|r| (r["chain"].clone(), r["backend"].clone())).collect();
    keys.dedup();
    let mut chains: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
    chains.dedup();
    let series = |chain: &str, x: &str, y: &str, suffix: &str| -> Vec<Series> {
        keys.iter()
            .filter(|(c, _)| c == chain)
            .map(|(c, b)| {
                Series::line(
                    format!("{b}{suffix}"),
                    rows.iter()
                        .filter(|r| &r["chain"] == c && &r["backend"] == b)
                        .filter_map(|r| Some((r[x].parse().ok()?, r[y].parse().ok()?)))
                        .collect(),
                )
                .color(figures::backend_color(b))
            })
            .collect()
    };
    // One panel per chain: every backend's p50 (solid) and p99 (dashed) against the throughput
    // it achieved.
    let panels: Vec<Panel> = chains
        .iter()
        .map(|c| {
            let mut lat = series(c, "achieved_rps", "p50_us", " p50");
            lat.extend(series(c, "achieved_rps", "p99_us", " p99").into_iter().map(Series::dashed));
            Panel {
                title: format!("{c}: latency vs throughput (open loop{machine})"),
                x_label: "achieved requests/s".into(),
                y_label: "latency (us)".into(),
                series: lat,
                log_y: true,
                log_x: true,
            }
        })
        .collect();
    figures::draw(&panels, &out.join("latency_vs_throughput"))?;
    // The same panels for CPU: in one panel, a backend's colour would stand for every chain and
    // placement at once.
    let panels: Vec<Panel> = chains
        .iter()
        .map(|c| Panel {
            title: format!("{c}: CPU of the system under test per 1,000 requests (open loop{machine})"),
            x_label: "offered requests/s".into(),
            y_label: "CPU seconds per 1k requests".into(),
            series: series(c, "offered_rps", "sut_cpu_s_per_1k", ""),
            log_y: true,
            log_x: true,
        })
        .collect();
    figures::draw(&panels, &out.join("cpu_per_1k"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(offered: f64, achieved: f64, ok: u64, errors: u64, p99_us: f64) -> Summary {
        let row = format!(
            "backend,chain,pattern,offered_rps,duration_s,ok,errors,achieved_rps,p50_us,p90_us,p99_us,p999_us,max_us,mean_us,sut_cpu_s,sut_cpu_s_per_1k,loadgen_cpu_pct,background_cpu_pct,send_lag_p50_us,send_lag_p99_us,cold_starts,interrupted\n\
             b,c,open,{offered},1,{ok},{errors},{achieved},1,1,{p99_us},1,1,1,,,0,0,0,0,0,false\n"
        );
        csv::Reader::from_reader(row.as_bytes()).deserialize().next().unwrap().unwrap()
    }

    /// A check stops at the fewest of 1,024 connections, those the chain's users allow and the
    /// requests the backend admits at once, and says which; SPRIGHT admits a request per slot
    /// of the chain's pool (512 by default), gRPC has no such bound.
    #[test]
    fn a_pool_check_stops_where_the_users_or_the_slots_do() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/chains/online-boutique.toml");
        let mut c = workloads::load_chain(&file).unwrap();
        let (users, slots) = (Some("its users allow"), Some("the backend's pool slots admit at once"));
        let max = |c: &workloads::Chain, threads, admits| {
            let (check, why) = PoolCheck::for_chain(c, threads, admits);
            (check.max, why)
        };
        assert_eq!(max(&c, 1, None), (1024, None), "5,000 users allow more");
        assert_eq!(max(&c, 1, Some(512)), (512, slots));
        assert_eq!(max(&c, 1, Some(4096)), (1024, None));
        c.users.as_mut().unwrap().pool = 97;
        assert_eq!(max(&c, 1, Some(512)), (97, users));
        assert_eq!(max(&c, 2, Some(512)), (96, users), "48 users of each of 2 threads");
        assert_eq!(max(&c, 1, Some(64)), (64, slots));
        let admits = |b: &str| registry::get(b).unwrap().admits_at_once(&c);
        assert_eq!(c.pool_slots, 512);
        assert_eq!((admits("s-spright"), admits("d-spright"), admits("grpc")), (Some(512), Some(512), None));
    }

    #[test]
    fn the_ramp_doubles_and_stops_at_the_first_saturated_point() {
        let mut asked = Vec::new();
        let ladder = Ramp { start: 250.0, step: 2.0, max_points: 9, refine: 1.0 };
        let pts = ramp(&ladder, |rate| {
            asked.push(rate);
            // Capacity 1,500 req/s: achieved is capped there.
            Ok(Some(point(rate, rate.min(1500.0), 1000, 0, 1000.0)))
        })
        .unwrap();
        assert_eq!(asked, [250.0, 500.0, 1000.0, 2000.0], "stops at 2,000, the first saturated point");
        assert_eq!(pts.len(), 4);
        let three = Ramp { max_points: 3, ..ladder };
        assert_eq!(ramp(&three, |r| Ok(Some(point(r, r, 1, 0, 1.0)))).unwrap().len(), 3, "at most max_points");
        assert!(ramp(&ladder, |_| Ok(None)).unwrap().is_empty(), "interrupted");
    }

    /// Bisection between 1,000 (unsaturated) and 2,000 (saturated) for a capacity of 1,500 req/s
    /// (saturated below 90% of offered: above 1,667): sqrt(1000 x 2000) = 1,414 holds, then
    /// 1,682 does not, then 1,542 holds; 1,682 / 1,542 < 1.1 ends it. Points come out in order.
    #[test]
    fn the_ramp_bisects_the_capacity_to_within_the_refine_factor() {
        let mut asked = Vec::new();
        let r = Ramp { start: 250.0, step: 2.0, max_points: 9, refine: 1.1 };
        let pts = ramp(&r, |rate| {
            asked.push(rate);
            Ok(Some(point(rate, rate.min(1500.0), 1000, 0, 1000.0)))
        })
        .unwrap();
        assert_eq!(asked, [250.0, 500.0, 1000.0, 2000.0, 1414.0, 1682.0, 1542.0]);
        let offered: Vec<f64> = pts.iter().map(|p| p.offered_rps.unwrap()).collect();
        assert_eq!(offered, [250.0, 500.0, 1000.0, 1414.0, 1542.0, 1682.0, 2000.0]);
        let best = pts.iter().filter(|p| !saturated(p)).map(|p| p.achieved_rps).fold(0.0, f64::max);
        assert_eq!(best, 1500.0, "the capacity, within 10%");
    }

    /// A backend of 10,000 req/s whose requests take 10 ms: 64 connections carry at most 6,400
    /// req/s, 256 at most 25,600. Saturated, a point's mean latency is a second (the queue).
    fn pooled(rate: f64, connections: u32) -> Summary {
        let achieved = rate.min(10_000.0).min(connections as f64 / 0.01);
        let mut p = point(rate, achieved, 1000, 0, 1000.0);
        p.connections = connections.into();
        p.mean_us = if achieved < 0.9 * rate { 1e6 } else { 10_000.0 };
        p
    }

    /// Issue 13: the pool, not the backend, capped the 16-core ceilings. At 8,000 req/s the 64
    /// connections saturate (6,400 achieved, all busy); 256 do not, so 64 are measured once more
    /// (they saturate again) and the ramp goes on with 256. At 16,000 the backend saturates;
    /// 1,024 connections saturate too (no repeat): the ceiling is the
    /// backend's, and the bisection below it runs on 1,024 connections without further checks
    /// (11,314 saturates, unchecked though 4,096 are allowed). The capacity found is the
    /// backend's 10,000, not 6,400.
    #[test]
    fn a_saturated_point_is_measured_again_on_a_larger_pool() {
        let mut asked = Vec::new();
        let r = Ramp { start: 1000.0, step: 2.0, max_points: 9, refine: 1.1 };
        let pts = ramp_checking_pool(&r, 64, Some(PoolCheck { growth: 4, max: 4096 }), |rate, c| {
            asked.push((rate, c));
            Ok(Some(pooled(rate, c)))
        })
        .unwrap();
        assert_eq!(
            asked,
            [
                (1000.0, 64),
                (2000.0, 64),
                (4000.0, 64),
                (8000.0, 64),
                (8000.0, 256),
                (8000.0, 64),
                (16000.0, 256),
                (16000.0, 1024),
                (11314.0, 1024),
                (9514.0, 1024),
                (10375.0, 1024)
            ]
        );
        let order: Vec<(f64, u64)> = pts.iter().map(|p| (p.offered_rps.unwrap(), p.connections)).collect();
        assert_eq!(
            order,
            [
                (1000.0, 64),
                (2000.0, 64),
                (4000.0, 64),
                (8000.0, 64),
                (8000.0, 64),
                (8000.0, 256),
                (9514.0, 1024),
                (10375.0, 1024),
                (11314.0, 1024),
                (16000.0, 256),
                (16000.0, 1024)
            ],
            "every point, a check's first (and its repeat) before its second"
        );
        let best = pts.iter().filter(|p| !saturated(p)).map(|p| p.achieved_rps).fold(0.0, f64::max);
        assert_eq!(best, 10_000.0);
        let checks: Vec<(f64, u64, u64, Option<u64>)> = pool_checks(pts.iter())
            .iter()
            .map(|c| {
                (
                    c.first.offered_rps.unwrap(),
                    c.first.connections,
                    c.again.connections,
                    c.repeat.map(|r| r.connections),
                )
            })
            .collect();
        assert_eq!(checks, [(8000.0, 64, 256, Some(64)), (16000.0, 256, 1024, None)]);
    }

    /// No check: without one, at the cap, or where the pool was not busy (a point saturated by
    /// errors at 1 ms of latency keeps 4 of 64 connections busy at 4,000 req/s).
    #[test]
    fn a_pool_is_checked_only_where_it_was_busy_and_may_grow() {
        let r = Ramp { start: 1000.0, step: 2.0, max_points: 9, refine: 1.0 };
        for (check, start) in
            [(None, 64), (Some(PoolCheck::DEFAULT), 1024), (Some(PoolCheck { growth: 4, max: 64 }), 64)]
        {
            let mut asked = Vec::new();
            ramp_checking_pool(&r, start, check, |rate, c| {
                asked.push(rate);
                Ok(Some(pooled(rate, c)))
            })
            .unwrap();
            let top = if start == 1024 { 16000.0 } else { 8000.0 };
            assert_eq!(asked.last(), Some(&top), "{check:?}, {start}: {asked:?}");
            assert!(asked.windows(2).all(|w| w[0] < w[1]), "no rate measured twice: {asked:?}");
        }
        let mut asked = Vec::new();
        ramp_checking_pool(&r, 64, Some(PoolCheck::DEFAULT), |rate, c| {
            asked.push((rate, c));
            let mut p = point(rate, rate, 1000, if rate >= 4000.0 { 50 } else { 0 }, 2000.0);
            (p.connections, p.mean_us) = (c.into(), 1000.0);
            Ok(Some(p))
        })
        .unwrap();
        assert_eq!(asked, [(1000.0, 64), (2000.0, 64), (4000.0, 64)]);
    }

    /// The summary names the connection pool its rows record (two values when points differ),
    /// and says nothing of one that rows of older runs (0) do not record but that.
    #[test]
    fn the_summary_names_the_connection_pool() {
        for (pools, said) in [
            (vec![64, 64], Some("had 64 connections")),
            (vec![64, 256], Some("had 64 or 256 connections")),
            (vec![0], None),
        ] {
            let dir =
                std::env::temp_dir().join(format!("sb-sweep-pool-{}-{}", std::process::id(), pools[pools.len() - 1]));
            std::fs::create_dir_all(&dir).unwrap();
            let rows: Vec<Summary> = pools
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    let mut p = point(1000.0 * (i + 1) as f64, 1000.0 * (i + 1) as f64, 1000, 0, 1000.0);
                    p.connections = c;
                    p
                })
                .collect();
            write_summaries(&dir.join("comparison.csv"), &rows).unwrap();
            let meta = serde_json::json!({"command_line": ["test"], "machine": "m", "duration_s": 1.0,
                "warmup_s": 0.0, "start_rate": 1000.0});
            std::fs::write(dir.join("reproduce.json"), meta.to_string()).unwrap();
            write_summary(&dir).unwrap();
            let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
            match said {
                Some(s) => {
                    assert!(md.contains(&format!("The load generator {s} (`--connections`)")), "{pools:?}:\n{md}")
                }
                None => assert!(
                    !md.contains("connections (`--connections`)") && md.contains("| b | 1000 | not recorded | 1000 |"),
                    "{md}"
                ),
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    /// The summary lists each pool check with its verdict (the pool's limit, a stall, either,
    /// the backend's), the table has each point's pool, and the figures draw a check's second
    /// point only; an interrupted point is named.
    #[test]
    fn the_summary_lists_each_pool_check() {
        let dir = std::env::temp_dir().join(format!("sb-sweep-checks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cut = pooled(4000.0, 64);
        (cut.backend, cut.achieved_rps, cut.interrupted) = ("c".into(), 0.0, true);
        // At 2,000 req/s: d's 64 connections saturate, 256 hold, and 64 hold when repeated (a
        // stall); e's repeat was never measured (interrupted).
        let at2k = |backend: &str, connections: u64, achieved: f64| {
            let mut p = point(2000.0, achieved, 1000, 0, 1000.0);
            (p.backend, p.connections, p.mean_us) = (backend.into(), connections, 1e6);
            p
        };
        let rows = [
            pooled(4000.0, 64),
            pooled(8000.0, 64),
            pooled(8000.0, 64),
            pooled(8000.0, 256),
            pooled(16000.0, 256),
            pooled(16000.0, 1024),
            cut,
            at2k("d", 64, 1000.0),
            at2k("d", 256, 2000.0),
            at2k("d", 64, 2000.0),
            at2k("e", 64, 1000.0),
            at2k("e", 256, 2000.0),
        ];
        write_summaries(&dir.join("comparison.csv"), &rows).unwrap();
        let meta = serde_json::json!({"command_line": ["test"], "machine": "m", "duration_s": 1.0,
            "warmup_s": 0.0, "start_rate": 4000.0, "pool_check": {"growth": 4, "max": 1024},
            "pool_caps": [{"chain": "few-users", "backends": ["b", "c"], "connections": 96, "why": "its users allow"}]});
        std::fs::write(dir.join("reproduce.json"), meta.to_string()).unwrap();
        summarize(&dir).unwrap();
        let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        for line in [
            "measured again with 4x the connections (at most 1024; 96 for few-users on b, c, as its users allow)",
            "- b: 8000 req/s unsaturated; peak achieved 10000 req/s\n",
            "  - pool check at 8000 req/s offered: 64 connections saturated (6400 req/s achieved); 256 connections reached 8000 req/s unsaturated, and 64 again saturated (6400 req/s achieved): the limit was the pool's\n",
            "  - pool check at 2000 req/s offered: 64 connections saturated (1000 req/s achieved); 256 connections reached 2000 req/s unsaturated, but 64 again reached 2000 req/s unsaturated: the first point met a stall, not the pool's limit\n",
            "  - pool check at 2000 req/s offered: 64 connections saturated (1000 req/s achieved); 256 connections reached 2000 req/s unsaturated: the limit was the pool's, or a stall that did not repeat\n",
            "  - pool check at 16000 req/s offered: 256 connections saturated (10000 req/s achieved); 1024 connections saturated too: the ceiling is the backend's\n",
            "| b | 8000 | 64 | 6400 |",
            "| b | 8000 | 256 | 8000 |",
            "- c: 0 req/s unsaturated; peak achieved 0 req/s (interrupted at 4000 req/s offered: that point's numbers are partial)\n",
        ] {
            assert!(md.contains(line), "{line}:\n{md}");
        }
        assert!(dir.join("latency_vs_throughput.svg").is_file() && dir.join("cpu_per_1k.svg").is_file());
        let mut drawn = figures::read_csv(&dir.join("comparison.csv")).unwrap();
        drop_replaced(&mut drawn);
        let drawn: Vec<(&str, &str)> =
            drawn.iter().map(|r| (r["offered_rps"].as_str(), r["connections"].as_str())).collect();
        assert_eq!(
            drawn,
            [
                ("4000.000", "64"),
                ("8000.000", "256"),
                ("16000.000", "1024"),
                ("4000.000", "64"),
                ("2000.000", "256"),
                ("2000.000", "256")
            ],
            "c's, d's and e's too"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The generator note divides the summed %CPU by the cores its threads had: three threads
    /// on three cores at 150% in all are half-busy (no note), at 270% busy at 90% (noted); the
    /// same three threads sharing one core (`paper` pins the generator to the first CPU) are
    /// at their limit at 90%.
    #[test]
    fn a_multi_threaded_generator_is_judged_by_its_cores() {
        for (pct, placement, noted) in
            [(150.0, "none", Some(false)), (270.0, "none", Some(true)), (90.0, "paper", None)]
        {
            let dir = std::env::temp_dir().join(format!("sb-sweep-note-{}-{pct}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut p = point(4000.0, 2000.0, 1000, 0, 1000.0); // saturated: half the offered rate
            p.loadgen_cpu_pct = pct;
            p.placement = placement.into();
            write_summaries(&dir.join("comparison.csv"), &[p]).unwrap();
            let meta = serde_json::json!({"command_line": ["test"], "machine": "m", "duration_s": 1.0,
                "warmup_s": 0.0, "start_rate": 4000.0, "loadgen_cores": {"none": 3, "paper": 1}});
            std::fs::write(dir.join("reproduce.json"), meta.to_string()).unwrap();
            write_summary(&dir).unwrap();
            let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
            match noted {
                Some(noted) => {
                    assert_eq!(md.contains("used 90% of each of its 3 cores"), noted, "{pct}%:\n{md}");
                    assert!(!md.contains("of its core"), "{md}");
                }
                None => assert!(md.contains("used 90% of its core where"), "{md}"),
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
