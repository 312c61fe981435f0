//! The CSV files of a run (README lists every column): `latency.csv`, `timeseries.csv`,
//! `cpu.csv`, `errors.csv`, `counters.csv`, `cold_starts.csv` and `summary.csv`.

use super::summary::{cell, write_summaries, Percentiles, Summary};
use super::{RunDir, RunInputs};
use anyhow::{Context, Result};
use dataplane_api::ColdStart;
use hdrhistogram::Histogram;
use std::path::Path;

fn writer(path: &Path) -> Result<csv::Writer<std::fs::File>> {
    csv::Writer::from_path(path).with_context(|| format!("create {}", path.display()))
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

/// Column lists of the files written row by row.
pub const REQUEST_COLUMNS: &[&str] = &["sent_s", "latency_us", "route", "ok", "cold"];
pub const LATENCY_COLUMNS: &[&str] =
    &["route", "ok", "errors", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"];
pub const CDF_COLUMNS: &[&str] = &["route", "percentile", "latency_us"];
pub const TIMESERIES_COLUMNS: &[&str] = &["second", "ok", "errors", "p50_us", "p90_us", "p99_us", "max_us", "users"];
pub const CPU_COLUMNS: &[&str] = &[
    "t_s",
    "component",
    "role",
    "pid",
    "cpu_pct",
    "cpu_s",
    "alive",
    "rss_kib",
    "pss_kib",
    "hugetlb_shared_kib",
    "hugetlb_private_kib",
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

/// The percentiles of `latency_cdf.csv`, in order: every whole percent, and the tail a CDF of
/// response times is read for.
fn cdf_percentiles() -> Vec<f64> {
    (0..100).map(f64::from).chain([99.5, 99.9, 99.95, 99.99, 99.999, 100.0]).collect()
}

/// Every CSV file of a run, `summary.csv` last.
pub fn write_csvs(dir: &RunDir, i: &RunInputs, summary: &Summary) -> Result<()> {
    let rec = &i.load.recorder;
    let mut w = writer(&dir.path("latency.csv"))?;
    w.write_record(LATENCY_COLUMNS)?;
    let row = |name: &str, ok: u64, err: u64, h: &Histogram<u64>| -> Vec<String> {
        let p = Percentiles::of(h);
        vec![
            name.to_string(),
            ok.to_string(),
            err.to_string(),
            cell(p.p50_us, 1),
            cell(p.p90_us, 1),
            cell(p.p99_us, 1),
            cell(p.p999_us, 1),
            cell(p.max_us, 1),
            cell(p.mean_us, 1),
        ]
    };
    for r in &rec.routes {
        w.write_record(row(&r.name, r.ok, r.errors, &r.latency))?;
    }
    w.write_record(row("*all*", rec.ok_total(), rec.error_total(), &rec.overall))?;
    w.flush()?;

    let mut w = writer(&dir.path("latency_cdf.csv"))?;
    w.write_record(CDF_COLUMNS)?;
    for (name, h) in rec.routes.iter().map(|r| (r.name.as_str(), &r.latency)).chain([("*all*", &rec.overall)]) {
        for p in cdf_percentiles().into_iter().filter(|_| !h.is_empty()) {
            w.write_record([name.to_string(), p.to_string(), us(h.value_at_quantile(p / 100.0))])?;
        }
    }
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
            sec.users.to_string(),
        ])?;
    }
    w.flush()?;

    write_cpu(&dir.path("cpu.csv"), i.samples)?;

    let mut w = writer(&dir.path("errors.csv"))?;
    w.write_record(["kind", "count"])?;
    for (k, v) in &rec.errors {
        w.write_record([k.clone(), v.to_string()])?;
    }
    w.flush()?;

    let mut w = writer(&dir.path("counters.csv"))?;
    w.write_record(["component", "counter", "value"])?;
    for c in i.counters {
        w.write_record([c.component.clone(), c.name.clone(), c.value.to_string()])?;
    }
    w.flush()?;

    if !i.cold_starts.is_empty() {
        write_cold_starts(&dir.path("cold_starts.csv"), i.cold_starts, i.load.start_ns)?;
    }
    if wants_request_log(i) {
        write_requests(&dir.path("requests.csv"), i)?;
    }
    super::locust::write(&dir.partial, i)?;
    super::hlog::write(&dir.partial, &i.load.recorder, super::window_start(&i.load.recorder), i.load.measured_s)?;

    write_summaries(&dir.path("summary.csv"), std::slice::from_ref(summary))
}

/// `cold_starts.csv`: one row per request that waited for a function to start, its arrival in
/// seconds after `start_ns` and its phases in microseconds.
pub fn write_cold_starts(path: &Path, rows: &[ColdStart], start_ns: u64) -> Result<()> {
    let mut w = writer(path)?;
    w.write_record(COLD_START_COLUMNS)?;
    for c in rows {
        let us = |x: f64| format!("{x:.1}");
        w.write_record([
            format!("{:.3}", c.arrived_ns.saturating_sub(start_ns) as f64 / 1e9),
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
    Ok(())
}

/// Runs whose every request matters on its own: sparse or bursty load (trace, bursts), or any
/// run with cold starts.
fn wants_request_log(i: &RunInputs) -> bool {
    !i.cold_starts.is_empty()
        || matches!(i.chain.load.pattern, workloads::Pattern::Trace(_) | workloads::Pattern::Burst { .. })
}

/// `requests.csv`: every measured request (up to the log's cap), its send time (intended, for
/// open loop) in seconds after the load started, latency, route, outcome and whether it waited
/// for a cold start.
fn write_requests(path: &Path, i: &RunInputs) -> Result<()> {
    let rec = &i.load.recorder;
    let mut w = writer(path)?;
    w.write_record(REQUEST_COLUMNS)?;
    for (l, cold) in rec.log.iter().zip(&i.cold.waited) {
        w.write_record([
            format!("{:.6}", l.origin_ns.saturating_sub(i.load.start_ns) as f64 / 1e9),
            us(l.done_ns.saturating_sub(l.origin_ns)),
            rec.routes[l.route as usize].name.clone(),
            u8::from(l.ok).to_string(),
            u8::from(*cold).to_string(),
        ])?;
    }
    w.flush()?;
    if rec.log_dropped > 0 {
        tracing::warn!(
            "requests.csv holds the first {} requests; {} more are in the histograms only",
            rec.log.len(),
            rec.log_dropped
        );
    }
    Ok(())
}

/// `cpu.csv`: every sample of every tracked process (and the load generator's thread).
pub fn write_cpu(path: &Path, samples: &[crate::cpu::Sample]) -> Result<()> {
    let mut w = writer(path)?;
    w.write_record(CPU_COLUMNS)?;
    for s in samples {
        w.write_record([
            format!("{:.3}", s.t_s),
            s.name.clone(),
            s.role.to_string(),
            s.pid.to_string(),
            format!("{:.2}", s.cpu_pct),
            format!("{:.3}", s.cpu_s),
            s.alive.to_string(),
            s.mem.map_or(String::new(), |m| m.rss_kib.to_string()),
            s.mem.map_or(String::new(), |m| m.pss_kib.to_string()),
            s.mem.map_or(String::new(), |m| m.hugetlb_shared_kib.to_string()),
            s.mem.map_or(String::new(), |m| m.hugetlb_private_kib.to_string()),
        ])?;
    }
    w.flush()?;
    Ok(())
}
