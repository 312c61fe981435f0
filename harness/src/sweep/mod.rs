//! The synthetic sweep of `make reproduce` (its `sweep` experiment): every registered backend on
//! the synthetic chains, at open-loop rates that double from light load until the backend
//! saturates, side by side in one comparison directory (`comparison.csv`, `summary.md`).
//!
//! - `ramp`: how a backend's ceiling is found (the saturation rule, the ladder and its
//!   bisection, the check of the load generator's connection pool);
//! - `summary`: what `summary.md` says, and `figures`: the figures, each from the directory's
//!   files alone (`spright-bench summarize`);
//! - here: running the points and writing those files.
//!
//! New backends join by being registered in [`crate::registry`]; nothing here names one.

mod figures;
mod ramp;
mod summary;

pub use figures::draw_comparison;
pub use ramp::{ramp, ramp_checking_pool, saturated, PoolCap, PoolCheck, Ramp};

use crate::evaluation::plan::Progress;
use crate::results::{write_summaries, Summary};
use crate::run::run;
use crate::testbed::Testbed;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
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
                        PoolCap::note(&mut caps, &chain.name, backend, check.max, &why);
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

fn two() -> f64 {
    2.0
}

fn one() -> f64 {
    1.0
}

/// How a comparison was made (`reproduce.json`), for `summary.md` and the figures.
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
    summary::write_summary(out)?;
    if let Err(e) = draw_comparison(out) {
        tracing::warn!(
            "figures not drawn ({}); redraw with `spright-bench summarize {}`",
            crate::error_report(e.as_ref()),
            out.display()
        );
    }
    Ok(())
}

/// Comparison rows written by hand, for the tests of the sweep's modules.
#[cfg(test)]
mod fixtures {
    use crate::results::Summary;

    pub(super) fn point(offered: f64, achieved: f64, ok: u64, errors: u64, p99_us: f64) -> Summary {
        let row = format!(
            "backend,chain,pattern,offered_rps,duration_s,ok,errors,achieved_rps,p50_us,p90_us,p99_us,p999_us,max_us,mean_us,sut_cpu_s,sut_cpu_s_per_1k,loadgen_cpu_pct,background_cpu_pct,send_lag_p50_us,send_lag_p99_us,cold_starts,interrupted\n\
             b,c,open,{offered},1,{ok},{errors},{achieved},1,1,{p99_us},1,1,1,,,0,0,0,0,0,false\n"
        );
        csv::Reader::from_reader(row.as_bytes()).deserialize().next().unwrap().unwrap()
    }

    /// A backend of 10,000 req/s whose requests take 10 ms: 64 connections carry at most 6,400
    /// req/s, 256 at most 25,600. Saturated, a point's mean latency is a second (the queue).
    pub(super) fn pooled(rate: f64, connections: u32) -> Summary {
        let achieved = rate.min(10_000.0).min(connections as f64 / 0.01);
        let mut p = point(rate, achieved, 1000, 0, 1000.0);
        p.connections = connections.into();
        p.mean_us = if achieved < 0.9 * rate { 1e6 } else { 10_000.0 };
        p
    }
}

#[cfg(test)]
mod tests {
    use super::figures::drop_replaced;
    use super::fixtures::{point, pooled};
    use super::*;

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
        let mut drawn = crate::figures::read_csv(&dir.join("comparison.csv")).unwrap();
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
}
