//! The results directory of one run, and the numbers in it.
//!
//! `results/runs/<id>/` holds (see README for every column):
//! - `manifest.json`: command line, commit, machine, chain spec, backend and label, load
//!   profile, placement, component pids and how each ended;
//! - `latency.csv` (per route and overall), `timeseries.csv` (per second), `cpu.csv` (every
//!   sample of every component and of the load generator), `errors.csv`, `counters.csv`,
//!   `summary.csv` (one row, what `reproduce` aggregates);
//! - `summary.md` and the figures, drawn only from the CSV files.
//!
//! The directory is written as `<id>.partial` and renamed when complete, so a directory without
//! that suffix is always a finished run; an existing directory is never overwritten.
//!
//! Summaries are computed here directly from the HdrHistograms, not re-derived from CSV with a
//! dataframe library: percentiles of the full-resolution histogram are exact to 3 significant
//! digits, which percentiles of per-second rows are not (and polars would add ~5 minutes of
//! compile time to every fresh build).

use crate::cpu::{Sample, SystemCpu};
use crate::loadgen::LoadResult;
use anyhow::{bail, Context, Result};
use dataplane_api::{ColdStart, Counter, Exit, Role};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// A results directory being written.
pub struct RunDir {
    pub final_path: PathBuf,
    pub partial: PathBuf,
}

impl RunDir {
    pub fn create(out: &Path) -> Result<Self> {
        if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(true) {
            bail!("results directory {} already exists and is not empty; choose another --out", out.display());
        }
        let name = out.file_name().context("--out needs a directory name")?.to_string_lossy().to_string();
        let partial = out.with_file_name(format!("{name}.partial"));
        if partial.exists() {
            std::fs::remove_dir_all(&partial).with_context(|| format!("remove stale {}", partial.display()))?;
        }
        std::fs::create_dir_all(&partial).with_context(|| format!("create {}", partial.display()))?;
        Ok(RunDir { final_path: out.to_path_buf(), partial })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.partial.join(file)
    }

    pub fn finish(self) -> Result<PathBuf> {
        if self.final_path.exists() {
            std::fs::remove_dir(&self.final_path)
                .with_context(|| format!("replace empty {}", self.final_path.display()))?;
        }
        std::fs::rename(&self.partial, &self.final_path)
            .with_context(|| format!("rename {} to {}", self.partial.display(), self.final_path.display()))?;
        Ok(self.final_path)
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Percentiles::default();
        }
        let q = |x: f64| h.value_at_quantile(x) as f64 / 1000.0;
        Percentiles {
            p50_us: q(0.5),
            p90_us: q(0.9),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: h.max() as f64 / 1000.0,
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// CPU of one role over the measurement window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RoleCpu {
    pub role: String,
    pub processes: usize,
    pub cpu_s: f64,
    /// Mean %CPU over the window (100 = one core).
    pub cpu_pct: f64,
}

/// The headline numbers of one run (`summary.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub backend: String,
    pub chain: String,
    pub pattern: String,
    /// Offered rate for open-loop runs, requests/s.
    pub offered_rps: Option<f64>,
    pub duration_s: f64,
    pub ok: u64,
    pub errors: u64,
    pub achieved_rps: f64,
    pub latency: Percentiles,
    /// CPU of the system under test (all components, not the load generator) in the window.
    /// NaN when it could not be measured (written as an empty cell).
    pub sut_cpu_s: f64,
    pub sut_cpu_s_per_1k: f64,
    pub loadgen_cpu_pct: f64,
    /// Machine-wide busy CPU that was neither the system under test nor the load generator.
    pub background_cpu_pct: f64,
    /// Load generator's send lag behind the intended times (see `Recorder::send_lag`).
    pub send_lag_p50_us: f64,
    pub send_lag_p99_us: f64,
    pub roles: Vec<RoleCpu>,
    /// Requests that waited for a function instance to start.
    pub cold_starts: u64,
    pub interrupted: bool,
}

impl Summary {
    /// A row of `summary.csv`/`comparison.csv` back into a summary (roles are not in the row).
    pub fn from_row(row: &std::collections::BTreeMap<String, String>) -> Result<Summary, String> {
        let text = |c: &str| row.get(c).cloned().ok_or_else(|| format!("missing column {c}"));
        let num = |c: &str| -> Result<f64, String> {
            let t = text(c)?;
            if t.is_empty() {
                return Ok(f64::NAN); // not measured
            }
            t.parse().map_err(|e| format!("column {c}: {e}"))
        };
        Ok(Summary {
            backend: text("backend")?,
            chain: text("chain")?,
            pattern: text("pattern")?,
            offered_rps: text("offered_rps")?.parse().ok(),
            duration_s: num("duration_s")?,
            ok: num("ok")? as u64,
            errors: num("errors")? as u64,
            achieved_rps: num("achieved_rps")?,
            latency: Percentiles {
                p50_us: num("p50_us")?,
                p90_us: num("p90_us")?,
                p99_us: num("p99_us")?,
                p999_us: num("p999_us")?,
                max_us: num("max_us")?,
                mean_us: num("mean_us")?,
            },
            sut_cpu_s: num("sut_cpu_s")?,
            sut_cpu_s_per_1k: num("sut_cpu_s_per_1k")?,
            loadgen_cpu_pct: num("loadgen_cpu_pct")?,
            background_cpu_pct: num("background_cpu_pct")?,
            send_lag_p50_us: num("send_lag_p50_us")?,
            send_lag_p99_us: num("send_lag_p99_us")?,
            roles: Vec::new(),
            cold_starts: row.get("cold_starts").and_then(|v| v.parse().ok()).unwrap_or(0),
            interrupted: text("interrupted")? == "true",
        })
    }
}

/// CPU seconds each sampled process used inside `[from_s, to_s]` of the sampler's timeline.
fn window_cpu(samples: &[Sample], name: &str, from_s: f64, to_s: f64) -> f64 {
    let mine: Vec<&Sample> = samples.iter().filter(|s| s.name == name).collect();
    let at = |t: f64| mine.iter().take_while(|s| s.t_s <= t + 1e-9).last().map(|s| s.cpu_s).unwrap_or(0.0);
    (at(to_s) - at(from_s)).max(0.0)
}

pub struct RunInputs<'a> {
    pub backend: &'a str,
    pub chain: &'a workloads::Chain,
    pub load: &'a LoadResult,
    pub samples: &'a [Sample],
    pub system: &'a SystemCpu,
    /// Where the measurement window starts and ends on the sampler's timeline, seconds.
    pub window: (f64, f64),
    /// Where the components ran ([`dataplane_api::Deployment::placement`]).
    pub placement: &'a str,
    /// The backend's options (`--backend-opt`).
    pub options: &'a dataplane_api::BackendOptions,
    /// Why CPU was not measured, if it was not (the system runs elsewhere).
    pub cpu_unavailable: Option<&'a str>,
    pub cold_starts: &'a [ColdStart],
    /// When the load generator started ([`crate::clock::now_ns`]), to place cold starts in time.
    pub load_start_ns: u64,
}

pub fn summarize(i: &RunInputs) -> Summary {
    let rec = &i.load.recorder;
    let (from, to) = i.window;
    let span = (to - from).max(1e-9);
    let mut names: Vec<(&str, Role)> = Vec::new();
    for s in i.samples {
        if !names.iter().any(|(n, _)| *n == s.name) {
            names.push((&s.name, s.role));
        }
    }
    let mut roles: Vec<RoleCpu> = Vec::new();
    let mut sut = 0.0;
    let mut loadgen = 0.0;
    for (name, role) in &names {
        let c = window_cpu(i.samples, name, from, to);
        if *role == Role::LoadGenerator {
            loadgen += c;
            continue;
        }
        sut += c;
        match roles.iter_mut().find(|r| r.role == role.as_str()) {
            Some(r) => {
                r.processes += 1;
                r.cpu_s += c;
            }
            None => roles.push(RoleCpu { role: role.as_str().into(), processes: 1, cpu_s: c, cpu_pct: 0.0 }),
        }
    }
    for r in &mut roles {
        r.cpu_pct = r.cpu_s / span * 100.0;
    }
    let ok = rec.ok_total();
    let all_ours = sut + loadgen;
    let background = if i.system.wall_s > 0.0 {
        ((i.system.busy_s - all_ours * i.system.wall_s / span) / i.system.wall_s * 100.0).max(0.0)
    } else {
        0.0
    };
    let (pattern, offered) = match &i.chain.load.pattern {
        workloads::Pattern::Open { rate, .. } => ("open".to_string(), Some(*rate)),
        workloads::Pattern::Closed { .. } => ("closed".to_string(), None),
        workloads::Pattern::Burst { .. } => ("burst".to_string(), None),
    };
    Summary {
        backend: i.backend.to_string(),
        chain: i.chain.name.clone(),
        pattern,
        offered_rps: offered,
        duration_s: i.load.measured_s,
        ok,
        errors: rec.error_total(),
        achieved_rps: if i.load.measured_s > 0.0 { ok as f64 / i.load.measured_s } else { 0.0 },
        latency: Percentiles::of(&rec.overall),
        sut_cpu_s: if i.cpu_unavailable.is_some() { f64::NAN } else { sut },
        sut_cpu_s_per_1k: match i.cpu_unavailable {
            Some(_) => f64::NAN,
            None if ok > 0 => sut / ok as f64 * 1000.0,
            None => 0.0,
        },
        loadgen_cpu_pct: loadgen / span * 100.0,
        background_cpu_pct: background,
        send_lag_p50_us: Percentiles::of(&rec.send_lag).p50_us,
        send_lag_p99_us: Percentiles::of(&rec.send_lag).p99_us,
        roles,
        cold_starts: i.cold_starts.len() as u64,
        interrupted: i.load.interrupted,
    }
}

fn writer(path: &Path) -> Result<csv::Writer<std::fs::File>> {
    csv::Writer::from_path(path).with_context(|| format!("create {}", path.display()))
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

/// Column lists, also checked by the tests.
pub const LATENCY_COLUMNS: &[&str] =
    &["route", "ok", "errors", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"];
pub const TIMESERIES_COLUMNS: &[&str] = &["second", "ok", "errors", "p50_us", "p90_us", "p99_us", "max_us"];
pub const CPU_COLUMNS: &[&str] = &["t_s", "component", "role", "pid", "cpu_pct", "cpu_s", "alive"];
pub const SUMMARY_COLUMNS: &[&str] = &[
    "backend",
    "chain",
    "pattern",
    "offered_rps",
    "duration_s",
    "ok",
    "errors",
    "achieved_rps",
    "p50_us",
    "p90_us",
    "p99_us",
    "p999_us",
    "max_us",
    "mean_us",
    "sut_cpu_s",
    "sut_cpu_s_per_1k",
    "loadgen_cpu_pct",
    "background_cpu_pct",
    "send_lag_p50_us",
    "send_lag_p99_us",
    "cold_starts",
    "interrupted",
];
pub const COLD_START_COLUMNS: &[&str] = &[
    "at_s",
    "service",
    "scheduling_us",
    "process_start_us",
    "readiness_us",
    "routing_us",
    "forwarding_us",
    "total_us",
];

pub fn write_csvs(dir: &RunDir, i: &RunInputs, summary: &Summary, counters: &[Counter]) -> Result<()> {
    let rec = &i.load.recorder;
    let mut w = writer(&dir.path("latency.csv"))?;
    w.write_record(LATENCY_COLUMNS)?;
    let row = |name: &str, ok: u64, err: u64, h: &Histogram<u64>| -> Vec<String> {
        let p = Percentiles::of(h);
        vec![
            name.to_string(),
            ok.to_string(),
            err.to_string(),
            format!("{:.1}", p.p50_us),
            format!("{:.1}", p.p90_us),
            format!("{:.1}", p.p99_us),
            format!("{:.1}", p.p999_us),
            format!("{:.1}", p.max_us),
            format!("{:.1}", p.mean_us),
        ]
    };
    for r in &rec.routes {
        w.write_record(row(&r.name, r.ok, r.errors, &r.latency))?;
    }
    w.write_record(row("*all*", rec.ok_total(), rec.error_total(), &rec.overall))?;
    w.flush()?;

    let mut w = writer(&dir.path("timeseries.csv"))?;
    w.write_record(TIMESERIES_COLUMNS)?;
    for (s, sec) in rec.seconds.iter().enumerate() {
        let h = &sec.latency;
        let q = |x: f64| {
            if h.is_empty() {
                String::new()
            } else {
                us(h.value_at_quantile(x))
            }
        };
        w.write_record([
            s.to_string(),
            sec.ok.to_string(),
            sec.errors.to_string(),
            q(0.5),
            q(0.9),
            q(0.99),
            if h.is_empty() { String::new() } else { us(h.max()) },
        ])?;
    }
    w.flush()?;

    let mut w = writer(&dir.path("cpu.csv"))?;
    w.write_record(CPU_COLUMNS)?;
    for s in i.samples {
        w.write_record([
            format!("{:.3}", s.t_s),
            s.name.clone(),
            s.role.to_string(),
            s.pid.to_string(),
            format!("{:.2}", s.cpu_pct),
            format!("{:.3}", s.cpu_s),
            s.alive.to_string(),
        ])?;
    }
    w.flush()?;

    let mut w = writer(&dir.path("errors.csv"))?;
    w.write_record(["kind", "count"])?;
    for (k, v) in &rec.errors {
        w.write_record([k.clone(), v.to_string()])?;
    }
    w.flush()?;

    let mut w = writer(&dir.path("counters.csv"))?;
    w.write_record(["component", "counter", "value"])?;
    for c in counters {
        w.write_record([c.component.clone(), c.name.clone(), c.value.to_string()])?;
    }
    w.flush()?;

    if !i.cold_starts.is_empty() {
        let mut w = writer(&dir.path("cold_starts.csv"))?;
        w.write_record(COLD_START_COLUMNS)?;
        for c in i.cold_starts {
            let us = |x: f64| format!("{x:.1}");
            w.write_record([
                format!("{:.3}", c.arrived_ns.saturating_sub(i.load_start_ns) as f64 / 1e9),
                c.service.clone(),
                us(c.scheduling_us),
                us(c.process_start_us),
                us(c.readiness_us),
                us(c.routing_us),
                us(c.forwarding_us),
                us(c.total_us),
            ])?;
        }
        w.flush()?;
    }

    let mut w = writer(&dir.path("summary.csv"))?;
    w.write_record(SUMMARY_COLUMNS)?;
    w.write_record(summary_row(summary))?;
    w.flush()?;
    Ok(())
}

pub fn summary_row(s: &Summary) -> Vec<String> {
    let f = |x: f64| if x.is_nan() { String::new() } else { format!("{x:.3}") };
    vec![
        s.backend.clone(),
        s.chain.clone(),
        s.pattern.clone(),
        s.offered_rps.map(f).unwrap_or_default(),
        f(s.duration_s),
        s.ok.to_string(),
        s.errors.to_string(),
        f(s.achieved_rps),
        f(s.latency.p50_us),
        f(s.latency.p90_us),
        f(s.latency.p99_us),
        f(s.latency.p999_us),
        f(s.latency.max_us),
        f(s.latency.mean_us),
        f(s.sut_cpu_s),
        f(s.sut_cpu_s_per_1k),
        f(s.loadgen_cpu_pct),
        f(s.background_cpu_pct),
        f(s.send_lag_p50_us),
        f(s.send_lag_p99_us),
        s.cold_starts.to_string(),
        s.interrupted.to_string(),
    ]
}

pub fn write_summary_md(
    dir: &RunDir,
    s: &Summary,
    label: &str,
    i: &RunInputs,
    exits: &[Exit],
    counters: &[Counter],
) -> Result<()> {
    let rec = &i.load.recorder;
    let mut md = String::new();
    md += &format!("# {} on {}\n\n", s.chain, s.backend);
    md += &format!("Backend: `{}`, {label}.\n\n", s.backend);
    md += &format!("Backend options: {}.\n\n", i.options.describe());
    md += &format!("Placement: {}; the load generator is a thread of the driver.\n\n", i.placement);
    md += &format!(
        "Load: {}; {:.1} s measured after {:.1} s warm-up.\n",
        i.chain.load.pattern.describe(),
        s.duration_s,
        i.chain.load.warmup_s
    );
    md += match i.chain.load.pattern {
        workloads::Pattern::Closed { .. } => "Latency: closed loop, from each request's actual send time.\n\n",
        _ => "Latency: open loop, from each request's *intended* send time (waiting for a free connection counts).\n\n",
    };
    if s.interrupted {
        md += "**This run was interrupted; its numbers cover only the part that ran.**\n\n";
    }
    md += &format!("Requests: {} ok, {} failed; throughput {:.1} req/s.\n\n", s.ok, s.errors, s.achieved_rps);
    md += &format!(
        "Load generator send lag behind intended times (included in the latencies below): p50 {:.1} us, p99 {:.1} us.\n\n",
        s.send_lag_p50_us, s.send_lag_p99_us
    );
    md += "| route | ok | errors | p50 us | p90 us | p99 us | p99.9 us | max us |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for r in &rec.routes {
        let p = Percentiles::of(&r.latency);
        md += &format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            r.name, r.ok, r.errors, p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us
        );
    }
    let p = &s.latency;
    md += &format!(
        "| **all** | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n\n",
        s.ok, s.errors, p.p50_us, p.p90_us, p.p99_us, p.p999_us, p.max_us
    );
    if !rec.errors.is_empty() {
        md += "Errors by kind:\n\n";
        for (k, v) in &rec.errors {
            md += &format!("- {k}: {v}\n");
        }
        md += "\n";
    }
    if let Some(why) = i.cpu_unavailable {
        md += &format!(
            "CPU of the system under test: **not measured**: {why}. (Load generator: {:.1}% CPU.)\n",
            s.loadgen_cpu_pct
        );
    } else {
        md += "CPU in the measurement window (procfs utime+stime; 100% = one core):\n\n| role | processes | CPU s | mean %CPU |\n|---|---:|---:|---:|\n";
        for r in &s.roles {
            md += &format!("| {} | {} | {:.3} | {:.1} |\n", r.role, r.processes, r.cpu_s, r.cpu_pct);
        }
        md += &format!(
            "\nSystem under test: {:.3} CPU s, {:.3} CPU s per 1,000 requests. Load generator (not included): {:.1}% CPU. Background load on the machine: {:.1}% CPU.\n",
            s.sut_cpu_s, s.sut_cpu_s_per_1k, s.loadgen_cpu_pct, s.background_cpu_pct
        );
    }
    if !i.cold_starts.is_empty() {
        md += &format!(
            "\nCold starts: {} requests waited for a function instance to start (`cold_starts.csv`; their latencies above include it). Phases in ms, mean over those requests:\n\n| service | requests | scheduling | process start | readiness | routing | forwarding | total |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
            i.cold_starts.len()
        );
        let mut services: Vec<&str> = i.cold_starts.iter().map(|c| c.service.as_str()).collect();
        services.sort();
        services.dedup();
        for svc in services {
            let cs: Vec<&ColdStart> = i.cold_starts.iter().filter(|c| c.service == svc).collect();
            let n = cs.len() as f64;
            let mean = |f: fn(&ColdStart) -> f64| cs.iter().map(|c| f(c)).sum::<f64>() / n / 1000.0;
            md += &format!(
                "| {svc} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
                cs.len(),
                mean(|c| c.scheduling_us),
                mean(|c| c.process_start_us),
                mean(|c| c.readiness_us),
                mean(|c| c.routing_us),
                mean(|c| c.forwarding_us),
                mean(|c| c.total_us)
            );
        }
    }
    if !counters.is_empty() {
        md += "\nDataplane counters at the end of the run, warm-up included (`counters.csv`):\n\n| component | counter | value |\n|---|---|---:|\n";
        for c in counters {
            md += &format!("| {} | {} | {} |\n", c.component, c.name, c.value);
        }
    }
    let died: Vec<&Exit> = exits.iter().filter(|e| e.died_during_run).collect();
    if !died.is_empty() {
        md += "\nComponents that died during the run:\n\n";
        for e in died {
            md +=
                &format!("- {} (pid {}): {}\n", e.component.name, e.component.pid, e.status.as_deref().unwrap_or("?"));
        }
    }
    md += "\nFigures: `timeline.png`/`.svg` (throughput and latency per second), `cpu.png`/`.svg` (%CPU per role).\n";
    std::fs::write(dir.path("summary.md"), md).context("write summary.md")
}
